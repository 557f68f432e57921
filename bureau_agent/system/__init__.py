"""The host: sd_notify, resource metrics and the process's identity."""
