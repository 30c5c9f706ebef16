"""The failure-class table against real-looking log lines of SHELL, SQL, SPARK, PYTHON and DATAX tasks."""

from __future__ import annotations

import pytest

from ds_monitor.classify import (
    DETERMINISTIC,
    SHIPPED_PATTERNS,
    TRANSIENT,
    UNKNOWN,
    Verdict,
    classify_excerpt,
    classify_instance,
    classify_task,
    user_patterns,
)

CASES = [
    # -- transient ---------------------------------------------------------------------------------
    ("SHELL", "curl: (7) Failed to connect to api.internal port 443: Connection refused", TRANSIENT),
    ("SHELL", "/tmp/dolphinscheduler/exec/process/1/2/3/4/4_5.sh: line 3: 12345 Killed  python big.py", TRANSIENT),
    ("SHELL", "[INFO] 2024-06-01 02:05:09.456 +0800 - process has exited, exitStatusCode:137", TRANSIENT),
    ("SHELL", "ssh: connect to host etl-01 port 22: Connection timed out", TRANSIENT),
    ("SQL", "ERROR 1040 (08004): Too many connections", TRANSIENT),
    ("SQL", "ERROR 1205 (HY000): Lock wait timeout exceeded; try restarting transaction", TRANSIENT),
    ("SQL", "org.postgresql.util.PSQLException: ERROR: deadlock detected", TRANSIENT),
    ("SQL", "java.sql.SQLRecoverableException: IO Error: Connection reset by peer", TRANSIENT),
    ("SPARK", "org.apache.spark.shuffle.FetchFailedException: Failed to connect to worker-7/10.0.0.7:7337",
     TRANSIENT),
    ("SPARK", "ExecutorLostFailure (executor 3 exited caused by one of the running tasks) Reason: Container "
     "killed by YARN for exceeding memory limits.", TRANSIENT),
    ("SPARK", "java.lang.OutOfMemoryError: Java heap space", TRANSIENT),
    ("SPARK", "org.apache.hadoop.ipc.RemoteException(org.apache.hadoop.hdfs.server.namenode.SafeModeException): "
     "Cannot create file /warehouse/x. Name node is in safe mode.", TRANSIENT),
    ("PYTHON", "requests.exceptions.ReadTimeout: HTTPSConnectionPool(host='api', port=443): Read timed out.",
     TRANSIENT),
    ("PYTHON", "ConnectionResetError: [Errno 104] Connection reset by peer", TRANSIENT),
    ("PYTHON", "urllib.error.HTTPError: HTTP Error 503: Service Unavailable", TRANSIENT),
    ("DATAX", "com.mysql.jdbc.exceptions.jdbc4.CommunicationsException: Communications link failure", TRANSIENT),
    ("DATAX", "java.net.SocketTimeoutException: connect timed out", TRANSIENT),
    # -- deterministic -----------------------------------------------------------------------------
    ("SHELL", "/tmp/dolphinscheduler/exec/process/1/2/3/4/4_5.sh: line 2: hdfs-cli: command not found",
     DETERMINISTIC),
    ("SHELL", "cp: cannot stat '/data/in/orders.csv': No such file or directory", DETERMINISTIC),
    ("SHELL", "mkdir: cannot create directory '/opt/out': Permission denied", DETERMINISTIC),
    ("SQL", "ERROR 1064 (42000): You have an error in your SQL syntax; check the manual near 'FORM orders'",
     DETERMINISTIC),
    ("SQL", "ERROR 1146 (42S02): Table 'dw.stage_orders' doesn't exist", DETERMINISTIC),
    ("SQL", "org.postgresql.util.PSQLException: ERROR: column \"amout\" does not exist", DETERMINISTIC),
    ("SQL", "ERROR 1365 (22012): Division by 0", UNKNOWN),  # MySQL's wording is not in the table
    ("SQL", "ERROR:  division by zero", DETERMINISTIC),
    ("SQL", "ERROR 1062 (23000): Duplicate entry '42' for key 'PRIMARY'", DETERMINISTIC),
    ("SPARK", "org.apache.spark.sql.AnalysisException: Table or view not found: stage.orders; line 1 pos 14",
     DETERMINISTIC),
    ("SPARK", "java.lang.ClassNotFoundException: com.example.etl.Main", DETERMINISTIC),
    ("SPARK", "Exception in thread \"main\" java.lang.NoSuchMethodError: scala.Predef$.refArrayOps",
     DETERMINISTIC),
    ("SPARK", "org.apache.spark.sql.catalyst.parser.ParseException: mismatched input 'FORM' expecting",
     DETERMINISTIC),
    ("PYTHON", "ModuleNotFoundError: No module named 'pandas'", DETERMINISTIC),
    ("PYTHON", "ZeroDivisionError: division by zero", DETERMINISTIC),
    ("PYTHON", "KeyError: 'order_id'", DETERMINISTIC),
    ("PYTHON", "  File \"job.py\", line 3\n    print 'x'\nSyntaxError: Missing parentheses", DETERMINISTIC),
    ("DATAX", "com.alibaba.datax.common.exception.DataXException: Code:[DBUtilErrorCode-07] - "
     "MySQLSyntaxErrorException: Unknown column 'amout' in 'field list'", DETERMINISTIC),
    ("DATAX", "java.lang.IllegalArgumentException: invalid argument: column count mismatch", DETERMINISTIC),
    ("DATAX", "Code:[MYSQLErrCode-02] Access denied for user 'etl'@'10.0.0.7' (using password: YES)",
     DETERMINISTIC),
    # -- nothing recognisable ----------------------------------------------------------------------
    ("SHELL", "[INFO] 2024-06-01 02:05:09.456 +0800 - process has exited, exitStatusCode:1", UNKNOWN),
    ("PYTHON", "AssertionError: row count 0 < 1000", UNKNOWN),
]


@pytest.mark.parametrize(("task_type", "line", "klass"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_shipped_table(task_type, line, klass):
    verdict = classify_excerpt(line.splitlines(), SHIPPED_PATTERNS)

    assert verdict.klass == klass, (task_type, line)
    if klass != UNKNOWN:
        assert verdict.line in line


def test_transient_signs_beat_deterministic_ones_in_the_shipped_order():
    lines = ["java.lang.NullPointerException", "Caused by: java.net.SocketTimeoutException: Read timed out"]

    assert classify_excerpt(lines, SHIPPED_PATTERNS).klass == TRANSIENT


def test_user_patterns_come_first():
    mine = user_patterns([{"pattern": "(?i)permission denied", "class": "transient"}])

    verdict = classify_excerpt(["mkdir: /x: Permission denied"], mine + SHIPPED_PATTERNS)

    assert (verdict.klass, verdict.reason) == (TRANSIENT, "your recovery.classify")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("x", "recovery.classify must be a list"),
        ([{"pattern": "("}], "recovery.classify[0]: class must be one of"),
        ([{"pattern": "(", "class": "transient"}], "recovery.classify[0]: not a valid regular expression"),
        ([{"pattern": "", "class": "transient"}], "recovery.classify[0].pattern must be a non-empty"),
        ([{"pattern": "x", "class": "transient", "colour": "red"}], "recovery.classify[0]: unknown key colour"),
    ],
)
def test_user_pattern_errors_name_the_entry(raw, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        user_patterns(raw)


def test_task_and_instance_states():
    assert classify_task("NEED_FAULT_TOLERANCE", ["syntax error"], SHIPPED_PATTERNS).klass == TRANSIENT
    assert classify_task("KILL", ["bye"], SHIPPED_PATTERNS).reason.startswith("task was killed")
    assert classify_instance("NEED_FAULT_TOLERANCE", [Verdict(DETERMINISTIC)]).klass == TRANSIENT
    # one deterministic task fails the retry again, whatever the others say
    assert classify_instance("FAILURE", [Verdict(TRANSIENT), Verdict(DETERMINISTIC, "x")]).line == "x"
    assert classify_instance("FAILURE", [Verdict(UNKNOWN), Verdict(TRANSIENT)]).klass == TRANSIENT
    assert classify_instance("FAILURE", []).klass == UNKNOWN
