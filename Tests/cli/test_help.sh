# `--help` of every command reads as a man page at 80 columns. ArgumentParser wraps help text
# at the terminal width, 80 when standard output is not a terminal (or $COLUMNS): a hand-wrapped
# line longer than that is broken once more, leaving a ragged fragment before the next line.
# Checked for the root, every subcommand and every subcommand of a group, as found in the
# SUBCOMMANDS sections of the help itself (so a new command is covered without editing this):
#   - no line is longer than 80 characters (USAGE included);
#   - the discussion (everything between the OVERVIEW paragraph and USAGE) is the same at 80
#     columns as at 1000: no hand-wrapped line was re-wrapped. The OVERVIEW paragraph (the
#     abstract, one line in the source) and option help given as a single line are wrapped by
#     ArgumentParser itself, with its hanging indent: that is the intended layout;
#   - option, argument and subcommand help written on several lines has each line fit, so it
#     is not re-wrapped either;
#   - a hand-wrapped USAGE (CommandConfiguration's usage:) still lists exactly the arguments
#     ArgumentParser would print (from --experimental-dump-help), so it cannot go stale.

help_cmds=() # "" is the root; else "ingest", "catalog keys", ...
help_enumerate() { # WORDS... of a command: add it and its subcommands
  local sub
  help_cmds+=("$*")
  while read -r sub; do
    [ "$sub" = help ] && continue
    help_enumerate "$@" "$sub"
  done < <(COLUMNS=80 "$SELLOCLI" "$@" --help 2>/dev/null \
    | awk '/^SUBCOMMANDS:$/ { s = 1; next } s && /^$/ { exit } s && /^  [^ ]/ { sub(/,$/, "", $1); print $1 }')
}
help_enumerate

# The same list from the command tree ArgumentParser dumps (shown commands only, no `help`),
# so a change in the help layout cannot silently shrink what this file checks.
d=$(new_scratch)
"$SELLOCLI" --experimental-dump-help > "$d/dump.json" 2>/dev/null
python3 - "$d/dump.json" > "$d/synopses.tsv" <<'PY'
# One line per shown command: its words after "sellocli", a tab, and the synopsis
# ArgumentParser generates for it (UsageGenerator: --name <value>, [optional], repeating ...).
import json, sys
root = json.load(open(sys.argv[1]))["command"]
def synopsis(arg):
    if arg["kind"] == "positional":
        s = "<%s>" % arg["valueName"]
    else:
        n = arg["preferredName"]
        s = ("--" if n["kind"] == "long" else "-") + n["name"]
        if arg["kind"] == "option":
            s += " <%s>" % arg["valueName"]
    if arg.get("isRepeating"):
        s += " ..."
    if arg.get("isOptional"):
        s = "[%s]" % s
    return s
def walk(cmd, words):
    shown = [a for a in cmd.get("arguments", []) if a.get("shouldDisplay", True)
             and not (a["kind"] == "flag" and a["preferredName"]["name"] in ("help", "version"))]
    subs = [s for s in cmd.get("subcommands", []) if s.get("shouldDisplay", True) and s["commandName"] != "help"]
    parts = ["sellocli"] + words + [synopsis(a) for a in shown] + (["<subcommand>"] if subs else [])
    print(" ".join(words) + "\t" + " ".join(parts))
    for s in subs:
        walk(s, words + [s["commandName"]])
walk(root, [])
PY
assert_eq "commands found in --help = commands ArgumentParser knows" \
  "$(cut -f1 "$d/synopses.tsv" | sort)" "$(printf '%s\n' "${help_cmds[@]}" | sort)"
assert_contains "a group's subcommands are enumerated" "$(printf '[%s]' "${help_cmds[@]}")" "[catalog ingest]"
if [ "${#help_cmds[@]}" -ge 20 ]; then pass; else failt "only ${#help_cmds[@]} commands found in --help"; fi

# The discussion: after the OVERVIEW paragraph (up to its first blank line), before USAGE.
help_discussion() { sed -n '/^USAGE: /q; p' | sed '1,/^$/d'; }

for c in "${help_cmds[@]}"; do
  name="sellocli${c:+ $c} --help"
  # shellcheck disable=SC2086  # the words of the command
  COLUMNS=80 "$SELLOCLI" $c --help > "$d/80.txt" 2>&1; code=$?
  # shellcheck disable=SC2086
  COLUMNS=1000 "$SELLOCLI" $c --help > "$d/wide.txt" 2>&1
  assert_eq "$name: exit code" 0 "$code"
  assert_contains "$name: has a USAGE line" "$(cat "$d/80.txt")" "USAGE: sellocli"

  assert_eq "$name: lines over 80 columns" "" "$(awk 'length > 80 { print NR ": " $0 }' "$d/80.txt")"

  assert_eq "$name: discussion lines re-wrapped at 80 columns (hand-wrap them to 78)" "" \
    "$(diff <(help_discussion < "$d/wide.txt") <(help_discussion < "$d/80.txt") | grep '^[<>]' | head -4)"

  # In the sections after USAGE, at 1000 columns an element is its label line (indent 2) with
  # its help on it (or on the next line, at column 26, when the label is that long),
  # maybe followed by one discussion line; two text lines in a row mean help written on
  # several lines, and each of those must fit.
  assert_eq "$name: multi-line option help re-wrapped at 80 columns" "" \
    "$(awk '/^USAGE: /    { after = 1; next }
            !after         { next }
            /^$/ || /^[A-Z][A-Z ]*:$/ { prev = ""; next }
            /^  [^ ]/      { prev = ""; abstract_next = substr($0, 3) !~ /  /; next }
            abstract_next  { abstract_next = 0; next }
            prev != "" && length(prev) > 79 { print NR - 1 ": " prev }
            prev != "" && length($0) > 79   { print NR ": " $0 }
            { prev = $0 }' "$d/wide.txt")"

  usage=$(sed -n '/^USAGE: /,/^$/p' "$d/80.txt" | sed 's/^USAGE: //' | tr -s ' \n' '  ' | sed 's/ *$//')
  if [[ "$usage" != *"<options>"* ]]; then # (ArgumentParser abbreviates past 12 options)
    assert_eq "$name: USAGE lists the command's arguments" \
      "$(awk -F'\t' -v c="$c" '$1 == c { print $2 }' "$d/synopses.tsv")" "$usage"
  fi
done
rm -rf "$d"
