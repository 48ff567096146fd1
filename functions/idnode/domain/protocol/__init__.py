"""The Handle protocol (RFC 3652) and the binary forms of the Handle data model (RFC 3651)."""
