"""softphone: a desktop SIP softphone for contact-center agents."""

__version__ = "0.1.0"
APP_NAME = "softphone"
