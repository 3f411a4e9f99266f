"""The value limits of the vocabulary, as the XSD states them (a test keeps the two equal).

They are chosen so that the largest valid document, every character written as the longest
escape, stays under the parser's 64 KiB default (see docs/spec-notes.md).
"""

IDENTIFIER_MAX = 255  # serverId, deviceId, ServerID, AAuthName
TEXT_MAX = 255  # deviceMan, deviceMod, Name, PrefConRef
SESSION_ID_MIN = 16
SESSION_ID_MAX = 128
SESSION_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~:-"
TREE_URI_MAX = 1024
URL_MAX = 1024  # bootstrapURL
ADDRESS_MAX = 1024  # AppAddr/Addr
SECRET_MAX = 512  # AAuthSecret
AUTH_DATA_MAX_OCTETS = 768  # AAuthData (1024 base64 characters)
APP_ADDR_MAX = 4
PORTS_MAX = 4
APP_AUTH_MAX = 4
REASON_CODE_MIN = 100
REASON_CODE_MAX = 599
