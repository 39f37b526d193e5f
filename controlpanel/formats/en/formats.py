"""One date format on every page (ISO-like, 24-hour), whatever Django's English locale says.

Templates write `{{ value }}` or `{{ value|date:"DATETIME_FORMAT" }}` and get the same text."""

DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i:s"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
TIME_FORMAT = "H:i:s"
