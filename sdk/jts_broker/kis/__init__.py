"""KIS (Korea Investment & Securities) Open API: ``KisRestGateway`` on its REST API.

``from jts_broker.kis import KisConfig, KisRestGateway``; see the README's "Trading with a KIS
account". Modules: ``config`` (KisConfig), ``endpoints`` (paths and tr_ids), ``token`` (the
access-token cache), ``http`` (calls, errors, paging), ``parse`` (answers -> domain values),
``orders`` (orders at most once), ``gateway`` (KisRestGateway).
"""

from .config import KisConfig, KisEnv
from .gateway import KisRestGateway

__all__ = ["KisConfig", "KisEnv", "KisRestGateway"]
