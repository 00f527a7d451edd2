"""Input domains: what an input is and what a valid change to it is (images, tokens, bytes,
feature vectors). See ``base.py`` for the interface every analysis asks instead of assuming pixels.
"""
from .base import DOMAINS, Domain, create_domain, list_domains, register_domain, require_domain
from .bytes import ByteDomain
from .feature import FeatureDomain
from .image import ImageDomain
from .token import TokenDomain

__all__ = [
    "DOMAINS", "ByteDomain", "Domain", "FeatureDomain", "ImageDomain", "TokenDomain", "create_domain",
    "list_domains", "register_domain", "require_domain",
]
