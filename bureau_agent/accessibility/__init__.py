"""The desktop's accessibility tree over AT-SPI (dbus-fast): finding the bus, reading
applications in bulk and in parallel, bounded in time. No HTTP here (api/accessibility.py)."""
