"""Named presets: every setting one of the posts' runs used, so that one flag reproduces that run.

A preset fills each setting the user did not give on the command line; an explicit flag always wins
(``--preset lsgan-post --unroll 5`` is the LSGAN post's run, unrolled).  The scripts print the effective
settings at start and save them in ``args.json`` and in every snapshot.  The values come from the posts'
original code (the maintainers' notes on the original experiments; each preset's docstring in the scripts
says where a value deviates and why).
"""
import argparse


def explicit_dests(parser, argv):
    """The ``dest`` of every option given explicitly in ``argv`` (parsed once more with defaults suppressed)."""
    saved = [(action, action.default) for action in parser._actions]
    try:
        for action, _ in saved:
            action.default = argparse.SUPPRESS
        given = parser.parse_args(argv)
    finally:
        for action, default in saved:
            action.default = default
    return set(vars(given))


def apply(args, values, explicit):
    """Set ``args.<key> = value`` for every preset value whose flag was not given explicitly."""
    for key, value in values.items():
        if key not in explicit:
            setattr(args, key, value)
    return args


def describe(args, keys):
    """'key=value, …' of the settings that define a run (for the start-up line and figure labels)."""
    def fmt(v):
        if isinstance(v, (list, tuple)):
            return ','.join(fmt(x) for x in v)
        if isinstance(v, float):
            return '{:g}'.format(v)
        return str(v)
    return ', '.join('{}={}'.format(k, fmt(getattr(args, k))) for k in keys if hasattr(args, k))
