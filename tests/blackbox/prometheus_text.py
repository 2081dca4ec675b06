"""A small parser of the Prometheus text exposition format (version 0.0.4), strict enough to
fail on what a scraper would reject: every sample's family announced by # TYPE before it,
names and labels well formed, values numbers, a family's samples together, a summary's
samples only _sum/_count (or quantiles), a name never TYPEd twice."""
import math
import re

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "summary", "histogram", "untyped"}


class ExpositionError(ValueError):
    pass


def _labels(text, pos, line):
    """Parses {a="b",...} from text[pos] == '{'; returns (dict, position after '}')."""
    labels = {}
    pos += 1
    while True:
        if text[pos] == "}":
            return labels, pos + 1
        m = LABEL_NAME.match(text, pos)
        if not m or text[m.end():m.end() + 2] != '="':
            raise ExpositionError(f"bad label in {line!r}")
        name, pos = m.group(0), m.end() + 2
        value = []
        while True:
            if pos >= len(text):
                raise ExpositionError(f"unterminated label value in {line!r}")
            c = text[pos]
            if c == "\\":
                nxt = text[pos + 1]
                if nxt not in '\\"n':
                    raise ExpositionError(f"bad escape \\{nxt} in {line!r}")
                value.append("\n" if nxt == "n" else nxt)
                pos += 2
            elif c == '"':
                pos += 1
                break
            elif c == "\n":
                raise ExpositionError(f"raw newline in label value in {line!r}")
            else:
                value.append(c)
                pos += 1
        if name in labels:
            raise ExpositionError(f"label {name} twice in {line!r}")
        labels[name] = "".join(value)
        if text[pos] == ",":
            pos += 1
        elif text[pos] != "}":
            raise ExpositionError(f"expected , or }} in {line!r}")


def _value(word, line):
    if word in ("+Inf", "-Inf", "NaN"):
        return float(word.replace("Inf", "inf").replace("NaN", "nan"))
    try:
        return float(word)
    except ValueError:
        raise ExpositionError(f"bad value {word!r} in {line!r}") from None


def parse(text):
    """Returns {family: {"type": t, "help": h, "samples": [(name, labels, value)]}}."""
    if text and not text.endswith("\n"):
        raise ExpositionError("the exposition must end with a newline")
    families = {}
    current = None
    closed = set()
    for line in text.split("\n")[:-1]:
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not NAME.fullmatch(name):
                    raise ExpositionError(f"bad metric name in {line!r}")
                fam = families.setdefault(name, {"type": None, "help": None, "samples": []})
                if parts[1] == "TYPE":
                    if fam["type"] is not None or fam["samples"]:
                        raise ExpositionError(f"TYPE of {name} twice or after its samples")
                    if len(parts) != 4 or parts[3] not in TYPES:
                        raise ExpositionError(f"bad TYPE line {line!r}")
                    fam["type"] = parts[3]
                else:
                    fam["help"] = parts[3] if len(parts) == 4 else ""
                if current and current != name:
                    closed.add(current)
                current = name
            continue
        m = NAME.match(line)
        if not m:
            raise ExpositionError(f"bad sample line {line!r}")
        name, pos = m.group(0), m.end()
        labels = {}
        if pos < len(line) and line[pos] == "{":
            labels, pos = _labels(line + "\n", pos, line)
        rest = line[pos:].split()
        if pos >= len(line) or line[pos] != " " or len(rest) not in (1, 2):
            raise ExpositionError(f"bad sample line {line!r}")
        value = _value(rest[0], line)
        family = None
        for candidate in (name, re.sub(r"_(sum|count|bucket)$", "", name)):
            if candidate in families and families[candidate]["type"] is not None:
                family = candidate
                break
        if family is None:
            raise ExpositionError(f"sample {name} without a TYPE before it")
        if family in closed or (current and family != current):
            raise ExpositionError(f"samples of {family} are not together")
        ftype = families[family]["type"]
        if ftype == "summary" and name != family and not name.endswith(("_sum", "_count")):
            raise ExpositionError(f"{name} in summary {family}")
        if ftype == "summary" and name == family and "quantile" not in labels:
            raise ExpositionError(f"summary {family} sample without quantile")
        if ftype == "counter" and (value < 0 or math.isnan(value)):
            raise ExpositionError(f"counter {name} is {value}")
        families[family]["samples"].append((name, labels, value))
    return families


def sample(families, name, **labels):
    """The value of the one sample called `name` with exactly `labels`, or None."""
    family = families.get(name) or families.get(re.sub(r"_(sum|count)$", "", name))
    if not family:
        return None
    for sname, slabels, value in family["samples"]:
        if sname == name and slabels == labels:
            return value
    return None
