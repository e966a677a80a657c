"""The package version, kept in one place and read by the report and the JSON sidecar."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("reportgen")
except PackageNotFoundError:  # running from a source checkout that was never installed
    __version__ = "0.1.0"
