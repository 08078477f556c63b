"""The web app: FastAPI with server-rendered pages on the GOV.UK Design System.

``create_app`` builds it; ``serve`` runs it with uvicorn (``switchover web``, and beside
the worker in ``switchover up``).
"""

from switchover.web.app import AREAS, Area, NavItem, create_app
from switchover.web.server import serve

__all__ = ["AREAS", "Area", "NavItem", "create_app", "serve"]
