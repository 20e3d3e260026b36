"""The Chroma-backed example store (:class:`RPMStore`): reasoning examples and profiles, per user.

Example:
    >>> from langchain_rpm.store import features_text
    >>> from langchain_rpm.types import Feature
    >>> features_text([Feature(name="space battles", context="fleets clash in orbit", factor="Setting")])
    'space battles: fleets clash in orbit'
"""

from langchain_rpm.store.core import RPMStore
from langchain_rpm.store.records import DEFAULT_STORE_PATH, default_client, example_id, features_text, user_filter

__all__ = ["DEFAULT_STORE_PATH", "RPMStore", "default_client", "example_id", "features_text", "user_filter"]
