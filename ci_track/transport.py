"""A dropped or refused connection in a few words, for every HTTP adapter's messages (pure).

urllib3's and requests' messages are long and nested ("HTTPConnectionPool(...): Max retries
exceeded ... [Errno 111] Connection refused"); a retry line or an error wants "connection refused".
"""

from __future__ import annotations


def describe_connection_error(error: BaseException | None) -> str:
    text = str(error)
    if "Connection refused" in text:
        return "connection refused"
    if "timed out" in text.lower() or type(error).__name__ in ("Timeout", "ReadTimeout", "ConnectTimeout"):
        return "timed out"
    if "RemoteDisconnected" in text or "Connection aborted" in text or "Connection reset" in text:
        return "connection dropped"
    if "Name or service not known" in text or "Failed to resolve" in text:
        return "host name not found"
    return type(error).__name__
