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

mkdir -p "$(dirname "$entry")" "$(dirname "$icon")"
cp "$here/_internal/resources/icons/hearth.svg" "$icon"
sed -e "s|^Exec=.*|Exec=\"$here/Hearth\"|" "$here/hearth.desktop" > "$entry"
if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database "$data/applications" || true
fi
echo "Hearth is in your applications menu. (It runs from $here: move that folder, then run ./install.sh again.)"
