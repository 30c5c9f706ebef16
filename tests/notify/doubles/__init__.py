"""Test doubles of the notification services, as real servers on 127.0.0.1 (notify-channels.md section 7)."""
