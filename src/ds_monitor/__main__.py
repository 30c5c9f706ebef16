from ds_monitor.cli import main

main()
