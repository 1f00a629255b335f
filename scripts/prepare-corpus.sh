#!/usr/bin/env bash
# Builds the English corpus of the text studies from three Debian packages, one document per
# fortune, Bible chapter or dictionary entry, each document ended by a line "%" (the separator
# that data.text.split: documents reads):
#
#   fortunes.txt   fortunes (fortune-mod's data files; the offensive ones are not in the package)
#   bible-kjv.txt  bible-kjv-text, printed by bible-kjv's `bible`: the King James Bible, one verse
#                  a line ("Ge1:1 In the beginning …"), chapters
#   gcide.txt      dict-gcide: the Collaborative International Dictionary of English, entries
#
#   scripts/prepare-corpus.sh [DIR]      # default data/english; installs missing packages (root or sudo)
#
# DIR/MANIFEST records each package's version and each file's bytes, documents and sha256; a run
# file records the corpus's own sha256 (data.text), so a run on another copy is refused by
# resume and verify. Why these three: all are public domain or freely licensed English, Debian
# ships them at fixed versions, and they differ in register (quips, narrative prose,
# definitions), so a random document split draws from all three. Together about 47 MB, 18 times
# the fortunes alone: a 10,000-step run of 32 × 64 bytes reads 20 MB and never repeats a byte.
set -euo pipefail
out=${1:-data/english}
packages=(fortunes bible-kjv bible-kjv-text dict-gcide)
"$(dirname "$0")/install-system-packages.sh" "${packages[@]}"
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export LC_ALL=C

# Fortunes: the files already end each fortune with a "%" line; add one after each file's last.
for file in $(find /usr/share/games/fortunes -maxdepth 1 -type f ! -name '*.dat' ! -name '*.u8' | sort); do
    cat "$file"
    [[ $(tail -c 2 "$file" | od -An -c | tr -d ' ') == '%\n' ]] || printf '%%\n'
done >"$tmp/fortunes.txt"

# The Bible: every verse on its own line ("Ge1:1 In the beginning …"); a "%" line between
# chapters (where the book-and-chapter prefix before ":" changes).
bible -f "gen1:1-rev22:21" | awk -F: '
    { if (started && $1 != chapter) print "%"; chapter = $1; started = 1; print }
    END { print "%" }' >"$tmp/bible-kjv.txt"

# GCIDE: the dictd file as text, without its 00-database-* header entries; a "%" line before
# each entry (a line that starts at column 0 after a blank line) but the first. The file is ASCII
# but for three stray Windows-1252 bytes, which are not UTF-8: they are dropped.
zcat /usr/share/dictd/gcide.dict.dz | tr -d '\200-\377' | awk '
    !started && /^00-database-/ { skip = 1 }
    prev_blank && /^[^ \t]/ { if ($0 ~ /^00-database-/) skip = 1; else { skip = 0; if (started) print "%"; started = 1 } }
    !skip && started { print }
    { prev_blank = ($0 == "") }
    END { print "%" }' >"$tmp/gcide.txt"

{
    echo "# scripts/prepare-corpus.sh: Debian packages and the files built from them"
    for package in "${packages[@]}"; do
        echo "package $package $(dpkg-query -W -f='${Version}' "$package")"
    done
    for name in fortunes.txt bible-kjv.txt gcide.txt; do
        bytes=$(wc -c <"$tmp/$name")
        documents=$(grep -c '^%$' "$tmp/$name")
        echo "file $name bytes $bytes documents $documents sha256 $(sha256sum "$tmp/$name" | cut -d' ' -f1)"
    done
} >"$tmp/MANIFEST"
# Whole or not at all: the files appear together, never half-written.
for name in fortunes.txt bible-kjv.txt gcide.txt MANIFEST; do mv "$tmp/$name" "$out/$name"; done
cat "$out/MANIFEST"
