"""gridctl: declarative plan/apply for fleets of GitHub accounts, repositories and runners."""

__version__ = "0.1.0"
