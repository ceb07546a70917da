"""Shell completion scripts for bash, zsh and fish, generated from the argparse tree.

`wloadctl completion SHELL` walks build_parser(): every verb and sub-verb, every option of each
command (and whether it takes a value), the choices of options and positionals. The scripts are
data (one `case` branch per command) plus a small fixed walker, so they never drift from the
parser: a new command or option completes as soon as it is added.

The walker of each shell does the same: it reads the words before the cursor, descends into a
sub-command when a word names one, skips the value of an option that takes one, and then offers
sub-commands, options (for a word that starts with '-'), the choices of the option before the
cursor, or file names.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field

__all__ = ["SHELLS", "Command", "Option", "script", "walk"]

SHELLS = ("bash", "zsh", "fish")
PROG = "wloadctl"


@dataclass(frozen=True)
class Option:
    names: tuple[str, ...]          # -o, --output
    takes_value: bool
    choices: tuple[str, ...] = ()
    help: str = ""


@dataclass
class Command:
    path: tuple[str, ...]           # () for the root, ("get", "jobs")
    help: str = ""
    subcommands: dict[str, str] = field(default_factory=dict)  # name -> help
    options: list[Option] = field(default_factory=list)
    positional_choices: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return " ".join(self.path)


_ASCII = {"\u2026": "...", "\u2264": "<=", "\u2265": ">=", "\u2013": "-", "\u2014": "-", "\u2018": "'",
          "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2192": "->", "\u00d7": "x"}


def _summary(text: str | None) -> str:
    """The first sentence of a help text, on one line, ASCII (completion menus are narrow)."""
    if not text or text == argparse.SUPPRESS:
        return ""
    text = re.sub(r"%\((\w+)\)s", r"\1", text).replace("%%", "%")
    text = "".join(_ASCII.get(c, c) if not c.isascii() else c for c in " ".join(text.split()))
    text = text.encode("ascii", "ignore").decode()
    first = re.split(r"(?<=[.;])\s", text, maxsplit=1)[0].rstrip(".;")
    return first if len(first) <= 70 else first[:67].rstrip() + "..."


def walk(parser: argparse.ArgumentParser) -> list[Command]:
    """Every command of the tree, the root first, parents before their children."""
    found: list[Command] = []

    def visit(node: argparse.ArgumentParser, path: tuple[str, ...], help_text: str) -> None:
        command = Command(path, _summary(help_text))
        found.append(command)
        children: list[tuple[str, argparse.ArgumentParser, str]] = []
        positional: list[str] = []
        for action in node._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {a.dest: a.help or "" for a in action._choices_actions}
                for name, sub in action.choices.items():
                    command.subcommands[name] = _summary(helps.get(name, ""))
                    children.append((name, sub, helps.get(name, "")))
            elif action.option_strings:
                if action.help == argparse.SUPPRESS:
                    continue
                choices = tuple(str(c) for c in action.choices) if action.choices else ()
                command.options.append(Option(tuple(action.option_strings), action.nargs != 0, choices,
                                              _summary(action.help)))
            elif action.choices:
                positional += [str(c) for c in action.choices]
        command.positional_choices = tuple(dict.fromkeys(positional))
        for name, sub, sub_help in children:
            visit(sub, (*path, name), sub_help)

    visit(parser, (), parser.description or "")
    return found


def script(shell: str, parser: argparse.ArgumentParser) -> str:
    """The completion script for ``shell`` (bash, zsh or fish)."""
    commands = walk(parser)
    if shell == "bash":
        return _bash(commands)
    if shell == "zsh":
        return _zsh(commands)
    if shell == "fish":
        return _fish(commands)
    raise ValueError(f"unknown shell {shell!r} (bash, zsh or fish)")


# ---- bash and zsh: the same data, as `case` branches ---------------------------------------------


def _words(items: list[str] | tuple[str, ...]) -> str:
    return " ".join(items)


def _single_quoted(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _data_function(name: str, commands: list[Command]) -> list[str]:
    """`NAME KEY` sets _wl_subs, _wl_opts and _wl_vals (options taking a value) and _wl_pos."""
    lines = [f"{name}() {{", '    _wl_subs=""; _wl_opts=""; _wl_vals=""; _wl_pos=""', '    case "$1" in']
    for c in commands:
        opts = [n for o in c.options for n in o.names]
        vals = [n for o in c.options if o.takes_value for n in o.names]
        lines.append(f'        "{c.key}")')
        lines.append(f'            _wl_subs="{_words(list(c.subcommands))}"')
        lines.append(f'            _wl_opts="{_words(opts)}"')
        lines.append(f'            _wl_vals="{_words(vals)}"')
        lines.append(f'            _wl_pos="{_words(c.positional_choices)}";;')
    lines += ["    esac", "}"]
    return lines


def _choices_function(name: str, commands: list[Command]) -> list[str]:
    """`NAME KEY OPTION` sets _wl_choices (the option's choices at that command, if any)."""
    grouped: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for c in commands:
        for o in c.options:
            if o.choices:
                for n in o.names:
                    grouped.setdefault((n, o.choices), []).append(c.key)
    lines = [f"{name}() {{", '    _wl_choices=""', '    case "$1|$2" in']
    for (option, choices), keys in grouped.items():
        patterns = "|".join(f'"{k}|{option}"' for k in keys)
        lines.append(f'        {patterns}) _wl_choices="{_words(choices)}";;')
    lines += ["    esac", "}"]
    return lines


# The words before the cursor -> the command ($_wl_key) and whether the cursor is on an option's
# value ($_wl_opt). Shared by bash and zsh (both run it with their own array of words).
_WALKER = """\
__wloadctl_walk() {
    # usage: __wloadctl_walk WORD... (the words after the program name, before the cursor)
    _wl_key=""; _wl_opt=""; _wl_lost=""
    local w expect=""
    __wloadctl_node ""
    for w in "$@"; do
        if [ -n "$expect" ]; then
            expect=""
            [ "$w" = "=" ] && expect="$_wl_opt" && continue
            _wl_opt=""; continue
        fi
        case "$w" in
            --*=*) continue;;
            -*)
                case " $_wl_vals " in
                    *" $w "*) expect="$w"; _wl_opt="$w";;
                esac
                continue;;
        esac
        case " $_wl_subs " in
            *" $w "*)
                if [ -n "$_wl_key" ]; then _wl_key="$_wl_key $w"; else _wl_key="$w"; fi
                __wloadctl_node "$_wl_key";;
            *)  # a word where a sub-command must be: no command of the tree, nothing to offer
                if [ -n "$_wl_subs" ]; then _wl_lost=1; fi;;
        esac
    done
    [ -n "$expect" ] || _wl_opt=""
}
"""


def _bash(commands: list[Command]) -> str:
    lines = [
        f"# bash completion for {PROG}, generated by `{PROG} completion bash` from its argument parser.",
        f"# Install: source <({PROG} completion bash)    (add that line to ~/.bashrc), or",
        f"#          {PROG} completion bash > /etc/bash_completion.d/{PROG}",
        "",
        *_data_function("__wloadctl_node", commands),
        "",
        *_choices_function("__wloadctl_option_choices", commands),
        "",
        _WALKER,
        """\
_wloadctl() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
    local _wl_key _wl_opt _wl_lost _wl_subs _wl_opts _wl_vals _wl_pos _wl_choices
    COMPREPLY=()
    # bash splits --output=json at '=' (COMP_WORDBREAKS): the value after '=' completes like the
    # word after --output.
    if [ "$cur" = "=" ]; then cur=""; fi
    __wloadctl_walk "${COMP_WORDS[@]:1:COMP_CWORD-1}"
    [ -z "$_wl_lost" ] || return 0
    if [ -n "$_wl_opt" ]; then
        __wloadctl_option_choices "$_wl_key" "$_wl_opt"
        if [ -n "$_wl_choices" ]; then
            COMPREPLY=($(compgen -W "$_wl_choices" -- "$cur"))
        fi
        return 0  # no choices: bash's default (file names, complete -o default)
    fi
    __wloadctl_node "$_wl_key"
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$_wl_opts" -- "$cur"))
    elif [ -n "$_wl_subs" ]; then
        COMPREPLY=($(compgen -W "$_wl_subs" -- "$cur"))
    elif [ -n "$_wl_pos" ]; then
        COMPREPLY=($(compgen -W "$_wl_pos" -- "$cur"))
    fi
    return 0
}
complete -o default -F _wloadctl wloadctl""",
    ]
    return "\n".join(lines) + "\n"


def _zsh_described(commands: list[Command]) -> list[str]:
    """`__wloadctl_described KEY` sets the arrays _wl_dsubs and _wl_dopts: NAME:DESCRIPTION."""
    lines = ["__wloadctl_described() {", "    _wl_dsubs=(); _wl_dopts=()", '    case "$1" in']
    for c in commands:
        subs = " ".join(_single_quoted(n.replace(":", "\\:") + ":" + h) for n, h in c.subcommands.items())
        opts = " ".join(_single_quoted(f"{n}:{o.help}") for o in c.options for n in o.names)
        lines.append(f'        "{c.key}")')
        lines.append(f"            _wl_dsubs=({subs})")
        lines.append(f"            _wl_dopts=({opts});;")
    lines += ["    esac", "}"]
    return lines


def _zsh(commands: list[Command]) -> str:
    lines = [
        f"#compdef {PROG}",
        f"# zsh completion for {PROG}, generated by `{PROG} completion zsh` from its argument parser.",
        f"# Install: source <({PROG} completion zsh)    (in ~/.zshrc, after compinit), or save it as",
        f"#          _{PROG} in a directory of $fpath.",
        "",
        *_data_function("__wloadctl_node", commands),
        "",
        *_choices_function("__wloadctl_option_choices", commands),
        "",
        *_zsh_described(commands),
        "",
        _WALKER,
        """\
_wloadctl() {
    local _wl_key _wl_opt _wl_lost _wl_subs _wl_opts _wl_vals _wl_pos _wl_choices
    local -a _wl_dsubs _wl_dopts
    local cur="${words[CURRENT]}"
    __wloadctl_walk "${(@)words[2,CURRENT-1]}"
    [[ -z "$_wl_lost" ]] || return 1
    if [[ -n "$_wl_opt" ]]; then
        __wloadctl_option_choices "$_wl_key" "$_wl_opt"
        if [[ -n "$_wl_choices" ]]; then
            compadd -- ${=_wl_choices}
        else
            _files
        fi
        return
    fi
    __wloadctl_node "$_wl_key"
    __wloadctl_described "$_wl_key"
    if [[ "$cur" == -* ]]; then
        _describe -t options 'option' _wl_dopts
    elif [[ -n "$_wl_subs" ]]; then
        _describe -t commands 'command' _wl_dsubs
    elif [[ -n "$_wl_pos" ]]; then
        compadd -- ${=_wl_pos}
    else
        _files
    fi
}
if [[ "$funcstack[1]" = "_wloadctl" ]]; then
    _wloadctl "$@"
else
    compdef _wloadctl wloadctl
fi""",
    ]
    return "\n".join(lines) + "\n"


# ---- fish: `complete` rules with a condition per command ------------------------------------------


def _fish_quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish(commands: list[Command]) -> str:
    lines = [
        f"# fish completion for {PROG}, generated by `{PROG} completion fish` from its argument parser.",
        f"# Install: {PROG} completion fish > ~/.config/fish/completions/{PROG}.fish",
        "",
        "# The command the words before the cursor name (\"\" for the root, \"get jobs\"); skips option values.",
        "function __wloadctl_key",
        "    set -l key ''",
        "    set -l skip 0",
        "    for w in (commandline -opc)[2..-1]",
        "        if test $skip = 1",
        "            set skip 0",
        "            continue",
        "        end",
        "        if string match -q -- '--*=*' $w",
        "            continue",
        "        end",
        "        if string match -q -- '-*' $w",
        "            if contains -- $w (__wloadctl_values $key)",
        "                set skip 1",
        "            end",
        "            continue",
        "        end",
        "        if contains -- $w (__wloadctl_subs $key)",
        "            set key (string trim -- \"$key $w\")",
        "        end",
        "    end",
        "    echo $key",
        "end",
        "",
        "function __wloadctl_is",
        "    set -l key (__wloadctl_key)",
        "    test \"$key\" = \"$argv[1]\"",
        "end",
        "",
        "function __wloadctl_subs",
        "    switch \"$argv[1]\"",
    ]
    for c in commands:
        if c.subcommands:
            lines += [f"        case {_fish_quoted(c.key)}",
                      f"            echo {' '.join(c.subcommands)} | string split ' '"]
    lines += ["    end", "end", "", "function __wloadctl_values", "    switch \"$argv[1]\""]
    for c in commands:
        vals = [n for o in c.options if o.takes_value for n in o.names]
        if vals:
            lines += [f"        case {_fish_quoted(c.key)}", f"            echo -- {' '.join(vals)} | string split ' '"]
    lines += ["    end", "end", "", f"complete -c {PROG} -e", ""]
    for c in commands:
        condition = f"-n {_fish_quoted('__wloadctl_is ' + _fish_quoted(c.key))}"
        for name, help_text in c.subcommands.items():
            lines.append(f"complete -c {PROG} {condition} -f -a {_fish_quoted(name)} -d {_fish_quoted(help_text)}")
        if c.positional_choices:
            lines.append(f"complete -c {PROG} {condition} -f -a {_fish_quoted(' '.join(c.positional_choices))}")
        for o in c.options:
            flags = []
            for n in o.names:
                if n.startswith("--"):
                    flags.append(f"-l {n[2:]}")
                elif len(n) == 2:
                    flags.append(f"-s {n[1:]}")
                else:
                    flags.append(f"-o {n[1:]}")
            if o.choices:
                flags.append(f"-x -a {_fish_quoted(' '.join(o.choices))}")
            elif o.takes_value:
                flags.append("-r")
            lines.append(f"complete -c {PROG} {condition} {' '.join(flags)} -d {_fish_quoted(o.help)}")
    return "\n".join(lines) + "\n"
