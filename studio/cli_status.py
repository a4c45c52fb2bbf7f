"""The exit statuses every `layer-studio` command shares."""

EXIT_OK, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2
# NOTE: a bug inside an importer exits 3, apart from 2 (a file that cannot be read or is refused
# as unsafe), so a script or a bug report can tell Layer Studio's fault from the file's.
EXIT_INTERNAL = 3
