"""Builders shared by the client tests: a fast client, DS envelopes and page objects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ds_monitor.config import DolphinSchedulerConfig
from ds_monitor.ds.calls import CallStats
from ds_monitor.ds.client import DSClient

TOKEN = "s3cr3t-t0ken-value"
BASE = "http://127.0.0.1:9/dolphinscheduler"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_client(
    *,
    api_url: str = BASE,
    token: str = TOKEN,
    api_version: str = "3.2",
    server_timezone: str = "UTC",
    timeout_seconds: float = 2,
    ui_url: str = "",
    clock: Callable[[], float] | None = None,
    calls: CallStats | None = None,
    max_retries: int = 2,
    cache_ttl_seconds: float = 300,
) -> DSClient:
    config = DolphinSchedulerConfig(
        api_url=api_url,
        token=token,
        api_version=api_version,
        timeout_seconds=timeout_seconds,
        server_timezone=server_timezone,
        ui_url=ui_url,
    )
    return DSClient(
        config,
        calls=calls,
        cache_ttl_seconds=cache_ttl_seconds,
        monotonic=clock or FakeClock(),
        retry_backoff=0,
        max_retries=max_retries,
    )


def envelope(data: Any = None, code: int = 0, msg: str = "success") -> dict:
    return {"code": code, "msg": msg, "data": data, "success": code == 0, "failed": code != 0}


def page(rows: list, *, total: int, page_no: int, page_size: int, shape: str) -> dict:
    """A PageInfo as each DS version prints it (ds-api.md 3)."""
    offset = (page_no - 1) * page_size
    total_page = -(-total // page_size) if total else 0
    info: dict[str, Any] = {"totalList": rows, "total": total, "pageSize": page_size, "currentPage": page_no}
    if shape == "start":  # 3.0, 3.1, 3.2.0
        info.update(totalPage=total_page, start=offset)
    elif shape == "pageNo-null-totalPage":  # 3.2.1
        info.update(totalPage=None, pageNo=offset)
    elif shape == "pageNo":  # 3.2.2, 3.3
        info.update(totalPage=total_page, pageNo=offset)
    else:
        raise ValueError(shape)
    return info
