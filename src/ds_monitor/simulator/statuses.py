"""DS business status codes and their English texts (ds-api.md section 8), rendered like DS does.

DS builds ``msg`` with ``java.text.MessageFormat``, so integer arguments get grouping separators
(instance 1234 prints as ``1,234``) while arguments DS passes as strings do not. The 3.3/dev
texts say "workflow" where 3.x says "process".
"""

from __future__ import annotations

from .versions import Version

TEXTS: dict[int, str] = {
    0: "success",
    10000: "Internal Server Error: {0}",
    10001: "request parameter {0} is not valid",
    10008: "task instance not found",
    10018: "project {0} not found ",
    10025: "master does not exist",
    10047: "query project details by code error",
    10049: "login user query project list paging error",
    10080: "query schedule list paging error",
    10081: "query schedule list error",
    10109: "query detail of process definition error",
    10110: "query process definition list",
    10113: "query process instance list paging error",
    10114: "query task list by process instance id error",
    10116: "query process instance by id error",
    10122: "query process definition list paging error",
    10103: "view task instance log error",
    10190: "This project was not found. Please refresh page.",
    10191: "task instance host is null",
    30002: "user {0} is not has project {1} permission",
    50001: "process instance {0} does not exist",
    50003: "process definition {0} does not exist",
    50004: "process definition {0} process version {1} not online",
    50006: "the status of process instance {0} is {1},Cannot perform {2} operation",
    50009: "process instance {0} is executing the command, please wait ...",
    50015: "execute process instance error",
}


class BusinessError(Exception):
    """A refusal DS answers as HTTP 200 with a non-zero ``code`` in the envelope."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg


def message_format(pattern: str, *args: object) -> str:
    """Fill ``{0}``, ``{1}``... the way MessageFormat does: integers grouped by thousands."""
    text = pattern
    for index, arg in enumerate(args):
        shown = f"{arg:,}" if isinstance(arg, int) and not isinstance(arg, bool) else str(arg)
        text = text.replace("{" + str(index) + "}", shown)
    return text


def status_text(version: Version, code: int) -> str:
    """The bare English text of ``code`` in ``version``'s wording."""
    text = TEXTS[code]
    return text.replace("process", "workflow") if version.workflow_family else text


def refuse(version: Version, code: int, *args: object) -> BusinessError:
    """A service-level refusal: the status text with its arguments filled in."""
    return BusinessError(code, message_format(status_text(version, code), *args))


def handler_error(version: Version, code: int, detail: str) -> BusinessError:
    """What ApiExceptionHandler answers for a Spring-level failure (missing or unconvertible param).

    3.0-3.2 send the method's status text alone; dev appends ``:`` and the exception message.
    """
    text = status_text(version, code)
    return BusinessError(code, f"{text}:{detail}" if version.workflow_family else text)


def internal_error(text: str) -> BusinessError:
    """``ServiceException(String)`` as dev raises it: code 10000, ``Internal Server Error: <text>``."""
    return BusinessError(10000, message_format(TEXTS[10000], text))
