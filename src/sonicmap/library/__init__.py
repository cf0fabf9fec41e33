"""The music library: tags (mutagen), key names, and (in ``walk``) files and change detection."""

from sonicmap.library.keys import key_name, parse_key
from sonicmap.library.tags import Tags, TagValue, read_tags, write_tags

__all__ = ["Tags", "TagValue", "key_name", "parse_key", "read_tags", "write_tags"]
