"""Build-time code generator of jts-broker. Never imported by the SDK at run time."""
