"""A plugged part is put back after every settings change, by the attach it came with."""

from __future__ import annotations

from typing import Any

from sandbox.runtime import Sandbox


def test_a_plugged_part_is_attached_again_after_a_switch_flips(sandbox: Sandbox) -> None:
    attached: list[object] = []

    def attach(sb: Sandbox, part: Any) -> None:
        attached.append(part)
        sb.network.read_router = part

    part = object()
    sandbox.plug("replica", part, attach)
    assert attached == [part] and sandbox.plugs == {"replica": part}
    # Turning the replica on builds the sandbox's own router; the plug takes its place again.
    sandbox.apply(sandbox.settings.replace({"db.read_replica": True,
                                            "db.read_your_writes": True}))
    assert attached == [part, part]
    assert sandbox.network.read_router is part
