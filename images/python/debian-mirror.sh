#!/usr/bin/env bash
# Prints the Debian mirror that rootfs.sh hands to debootstrap: RUNBOX_DEBIAN_MIRROR when set, otherwise the
# first URI of the first enabled `deb` entry for bookworm (with component main) in the host's apt sources, read
# in apt's order: sources.list (one-line format), then sources.list.d/*.list (one-line) and *.sources (deb822).
# Usage: debian-mirror.sh [APT_DIR]   (APT_DIR defaults to /etc/apt; tests pass a directory of samples)
# The mirror goes to stdout, a note saying where it came from to stderr; exits 1 when there is none.
set -euo pipefail
apt_dir=${1:-/etc/apt}
suite=bookworm
export LC_ALL=C

if [[ -n ${RUNBOX_DEBIAN_MIRROR:-} ]]; then
  echo "debian-mirror.sh: using RUNBOX_DEBIAN_MIRROR=$RUNBOX_DEBIAN_MIRROR" >&2
  echo "$RUNBOX_DEBIAN_MIRROR"
  exit 0
fi

# has WORD LIST...: whether WORD is one of the (already split) LIST.
has() {
  local word=$1 item
  shift
  for item in "$@"; do [[ $item == "$word" ]] && return 0; done
  return 1
}

# usable URI: whether debootstrap can fetch from URI (apt's other methods, like cdrom: or mirror+http:, it cannot).
usable() { [[ $1 =~ ^(https?|ftp|file):// ]]; }

found() {
  echo "debian-mirror.sh: using $1 from $2" >&2
  echo "${1%/}"
  exit 0
}

# One-line format: `deb [options] URI SUITE COMPONENT...`, `#` starts a comment.
scan_list() {
  local file=$1 line rest uri dist
  local -a words
  while IFS= read -r line || [[ -n $line ]]; do
    line=${line%%#*}
    [[ $line =~ ^[[:space:]]*deb[[:space:]]+(.*)$ ]] || continue
    rest=${BASH_REMATCH[1]}
    if [[ $rest =~ ^\[[^]]*\][[:space:]]*(.*)$ ]]; then rest=${BASH_REMATCH[1]}; fi
    read -r -a words <<<"$rest"
    ((${#words[@]} >= 3)) || continue
    uri=${words[0]} dist=${words[1]}
    if [[ $dist == "$suite" ]] && has main "${words[@]:2}" && usable "$uri"; then found "$uri" "$file"; fi
  done <"$file"
}

# deb822 format: paragraphs of `Field: value` lines separated by blank lines; `#` lines are comments,
# lines starting with whitespace continue the previous field.
scan_sources() {
  local file=$1 line name="" types="" uris="" suites="" components="" enabled=yes
  local -a list
  check() {
    local -a t u s c
    read -r -a t <<<"$types"
    read -r -a u <<<"$uris"
    read -r -a s <<<"$suites"
    read -r -a c <<<"$components"
    if ! has "${enabled,,}" no false off without disable && has deb "${t[@]}" && has "$suite" "${s[@]}" && has main "${c[@]}" &&
      ((${#u[@]} > 0)) && usable "${u[0]}"; then
      found "${u[0]}" "$file"
    fi
    types="" uris="" suites="" components="" enabled=yes name=""
  }
  set_field() {
    case $name in
      types) types+=" $1" ;;
      uris) uris+=" $1" ;;
      suites) suites+=" $1" ;;
      components) components+=" $1" ;;
      enabled) enabled=${1//[[:space:]]/} ;;
    esac
  }
  while IFS= read -r line || [[ -n $line ]]; do
    if [[ $line =~ ^[[:space:]]*$ ]]; then
      check
    elif [[ $line == \#* ]]; then
      continue
    elif [[ $line =~ ^[[:space:]] ]]; then
      set_field "$line"
    elif [[ $line =~ ^([A-Za-z0-9-]+):(.*)$ ]]; then
      name=${BASH_REMATCH[1],,}
      set_field "${BASH_REMATCH[2]}"
    fi
  done <"$file"
  check
}

[[ -f $apt_dir/sources.list ]] && scan_list "$apt_dir/sources.list"
for file in "$apt_dir"/sources.list.d/*; do
  [[ -f $file ]] || continue
  case $file in
    *.list) scan_list "$file" ;;
    *.sources) scan_sources "$file" ;;
  esac
done

cat >&2 <<EOF
debian-mirror.sh: no Debian mirror found for $suite: no enabled 'deb' entry for suite $suite with component main
and an http(s)/ftp/file URI in $apt_dir/sources.list or $apt_dir/sources.list.d/*.list or *.sources.
Set RUNBOX_DEBIAN_MIRROR to a Debian mirror's URL (the directory holding dists/ and pool/) and retry.
EOF
exit 1
