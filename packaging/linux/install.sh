#!/bin/sh
# Adds Hearth to this user's applications menu (no administrator rights needed).
# Run it from the unpacked Hearth folder:  ./install.sh      To undo:  ./install.sh --remove
set -e
here=$(cd "$(dirname "$0")" && pwd)
data="${XDG_DATA_HOME:-$HOME/.local/share}"
entry="$data/applications/hearth.desktop"
icon="$data/icons/hicolor/scalable/apps/hearth.svg"

if [ "$1" = "--remove" ]; then
    rm -f "$entry" "$icon"
    echo "Hearth is no longer in the applications menu. Your models and documents are kept in $data/Hearth."
    exit 0
fi

case "$here" in
    *"
"*) echo "install.sh: the folder's name has a line break in it; move Hearth to a plainer folder." >&2; exit 1 ;;
esac

# The Exec value, quoted as the Desktop Entry Specification asks: inside double quotes a backslash,
# double quote, backtick or dollar sign is escaped with a backslash, and that backslash (like any
# backslash in a string value) is escaped again; a literal % is written %%. The path goes through
# sed as input, never as part of a sed expression, so characters such as & | \ stay themselves.
quoted=$(printf '%s\n' "$here/Hearth" | sed -e 's/\\/\\\\\\\\/g' -e 's/["`$]/\\\\&/g' -e 's/%/%%/g')
# GLib (GNOME and most menus) checks that the program exists before it expands %%, so a folder with
# a % in its name would hide Hearth from the menu: there the program is env, which is always found.
launcher=""
case "$here" in *%*) launcher="env " ;; esac

mkdir -p "$(dirname "$entry")" "$(dirname "$icon")"
cp "$here/_internal/resources/icons/hearth.svg" "$icon"
tmp="$entry.tmp.$$"
while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
        Exec=*) printf 'Exec=%s"%s"\n' "$launcher" "$quoted" ;;
        *) printf '%s\n' "$line" ;;
    esac
done < "$here/hearth.desktop" > "$tmp"
mv "$tmp" "$entry"
if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database "$data/applications" || true
fi
echo "Hearth is in your applications menu. (It runs from $here: move that folder, then run ./install.sh again.)"
