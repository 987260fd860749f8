"""Purpose limitation, PIAs, warrants, resident protections and the watchdog's anomaly detection."""
