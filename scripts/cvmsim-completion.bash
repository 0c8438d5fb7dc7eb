# bash completion for cvmsim. It asks the installed binary itself (`cvmsim ... --help`), so
# it never goes stale as commands and options change. Installed by `cmake --install` into
# share/bash-completion/completions/cvmsim.

# The subcommands and options listed in `cvmsim WORDS... --help`.
_cvmsim_help_words() {
  "$1" "${@:2}" --help 2>/dev/null | awk '
    /^Subcommands:/ { in_sub = 1; next }
    /^[A-Za-z]/ { in_sub = 0 }
    in_sub && NF { print $1; next }
    /^ +-/ { n = split($1, names, ","); for (i = 1; i <= n; i++) print names[i] }'
}

_cvmsim() {
  local cur="${COMP_WORDS[COMP_CWORD]}"
  local prev="${COMP_WORDS[COMP_CWORD-1]}"
  local program="${COMP_WORDS[0]}"
  # The command path so far: the words before the cursor that are subcommands.
  local path=() word candidates
  for word in "${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
    [[ "$word" == -* ]] && break
    if _cvmsim_help_words "$program" "${path[@]}" | grep -qx -- "$word"; then
      path+=("$word")
    else
      break
    fi
  done
  case "$prev" in
    -o|--output) mapfile -t COMPREPLY < <(compgen -W "text json table markdown" -- "$cur"); return ;;
    --suite) mapfile -t COMPREPLY < <(compgen -W "sm nist" -- "$cur"); return ;;
    --guard) mapfile -t COMPREPLY < <(compgen -W "off detect isolate" -- "$cur"); return ;;
  esac
  if [[ "$cur" == -* || "$COMP_CWORD" -eq $(( ${#path[@]} + 1 )) ]]; then
    candidates=$(_cvmsim_help_words "$program" "${path[@]}")
    mapfile -t COMPREPLY < <(compgen -W "$candidates" -- "$cur")
    [[ ${#COMPREPLY[@]} -gt 0 || "$cur" == -* ]] && return
  fi
  mapfile -t COMPREPLY < <(compgen -f -- "$cur")
}

complete -o filenames -F _cvmsim cvmsim
