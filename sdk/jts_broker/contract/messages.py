"""The jts.broker.v1 messages as betterproto2 dataclasses, for code that prefers typed dataclasses
to protobuf's upb messages (``from jts_broker.contract.messages import Candle``).

They need the extra: ``pip install 'jts-broker[betterproto]'``. Nothing in the SDK's own path
uses them: the gateways, the offline cache and the simulator encode and decode with upb, which
parses 10,000 candles in about 2 ms against about 230 ms for betterproto2 (DESIGN.md, section 4).
``make codegen`` keeps both generated from the same protos, and the tests check that both
mappers give identical domain objects.
"""

from __future__ import annotations

try:
    from ._generated.betterproto.jts.broker.v1 import *  # noqa: F403 (the generated module's own __all__)
    from ._generated.betterproto.jts.broker.v1 import __all__ as __all__
except ModuleNotFoundError as exc:
    if exc.name != "betterproto2":
        raise
    raise ImportError("the dataclass messages need betterproto2: pip install 'jts-broker[betterproto]'") from exc
