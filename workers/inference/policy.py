"""Policy: prompt injections in passages and questions, and answer sentences never to show."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from workers.inference.answerer import (
    ANSWER_INSTRUCTION,
    SYSTEM_PROMPT,
    content_words,
    split_sentences,
    strip_markers,
)
from workers.inference.base import Passage

__all__ = [
    "ASKS_FOR_SECRET",
    "FOLLOWS_INJECTION",
    "UNKNOWN_CONTACT",
    "UNSUPPORTED_PROMISE",
    "find_injections",
    "policy_violation",
    "sanitize_passage",
]

ASKS_FOR_SECRET = "asks_for_secret"  # noqa: S105 - a code name, not a password
FOLLOWS_INJECTION = "follows_injection"
UNSUPPORTED_PROMISE = "unsupported_promise"
UNKNOWN_CONTACT = "unknown_contact"

# An answer sentence "follows" an injection when it reuses words of the injected sentence that
# the genuine passages do not contain: 2 such words making up a quarter of the sentence ("Lumen
# & Oak is worse than IKEA"), or half of a short one ("I HAVE BEEN PWNED").
ECHO_MIN_WORDS = 2
ECHO_MIN_SHARE = 0.25
ECHO_SHORT_SHARE = 0.5
# A sentence made mostly of the answerer's own instructions leaks the prompt. 5 words: a genuine
# answer shares at most 2-3 with it ("contact customer support", "the passages do not say").
LEAK_MIN_WORDS = 5
LEAK_MIN_SHARE = 0.6
# A bare override ("Ignore all previous instructions.") has at most this many other words; the
# rest of its paragraph is then the attacker's text too, even sentences that read as facts.
OPENER_MAX_EXTRA_WORDS = 1
PHONE_MIN_DIGITS = 8  # below that it is a price, an order number (LO-123456) or a date
PHONE_MAX_DIGITS = 15  # the E.164 maximum

_I = re.IGNORECASE
_MODEL = r"(?:ai|a\.i\.|assistant|chat ?bot|bot|(?:large )?language model|llm|gpt|chatgpt|model)"
_RULES = (
    r"(?:instructions?|rules|guidelines|guardrails|directives|prompts?|programming|"
    r"restrictions|constraints|polic(?:y|ies)|training|context|system message|passages|"
    r"knowledge base|documents)"
)
_QUALIFIER = (
    r"(?:previous|prior|above|earlier|preceding|original|initial|system|safety|existing|"
    r"former|other|old|current|given|developer)"
)
_ROLE = (
    r"(?:dan|character|persona|pirate|hacker|grand(?:ma|mother)|unrestricted|unfiltered|"
    r"uncensored|jailbroken|evil|rogue|free (?:of|from))"
)
_IMPERATIVE = (
    r"(?:^|[:;,\-\u2013\u2014(]\s*|\b(?:and|then|now|please|instead|always|simply|just|"
    r"you (?:must|should|shall|will|need to|have to|are to|are required to))\s+)"
)
_PEOPLE = (
    r"(?:the |every |each |all |any |our )?(?:customers?|users?|visitors?|clients?|shoppers?|"
    r"callers?|buyers?|humans?|person)"
)
# Override instructions and instruction headers open an injected block (see _opens_block).
_OPENER_PATTERNS = (
    r"(?<!not )(?<!n't )(?<!never )\b(?:ignore|disregard|forget|override|bypass|skip|drop)\s+"
    rf"(?:(?:all|any|every|each)\s+(?:of\s+)?)?(?:(?:the|your|my|these|those|its)\s+)?"
    rf"(?:{_QUALIFIER}\s+)?(?:{_MODEL}\s+)?{_RULES}\b"
    # "Ignore the instructions printed on the box" is help-centre text, not an attack.
    r"(?!\s+(?:on|in|printed|that came|for (?:the|your) (?:lamp|bulb|hub|product|item)))",
    rf"\b(?:new|updated|revised|real|actual|secret|hidden)\s+(?:{_MODEL}\s+)?(?:instructions?|"
    rf"rules|directives|orders|task)\s*(?::|for (?:the|this|any|all) {_MODEL})",
    r"^\W*(?:system|admin|developer|assistant|ai|bot|chat ?bot|llm)\s*(?:override|message|note|"
    r"instructions?)?\s*:",
    r"<\|?(?:im_start|system|endoftext)\|?>|\[/?(?:inst|system)\]|###\s*instruction",
)
_INJECTION_PATTERNS = (
    # Addressing the model.
    rf"\b(?:dear|attention|note to|notice to|message (?:for|to)|hey|hi|hello)\s+(?:the |any |all )?"
    rf"{_MODEL}s?\b|\b(?:if|when) you are an? {_MODEL}\b|\b{_MODEL}s? (?:reading|processing|"
    r"summari[sz]ing|answering) (?:this|these)\b|\bas an? (?:ai|a\.i\.|ai model|(?:large )?"
    r"language model|llm|chat ?bot)\b",
    # Asking for the prompt.
    r"\bsystem[ -]?prompt\b|\b(?:initial|hidden|original|secret) (?:prompt|instructions)\b|"
    r"\b(?:reveal|print|show|output|repeat|display|leak|dump|disclose|recite|share|tell me|what "
    r"(?:is|are)|what's)\s+(?:me\s+)?(?:your|the)\s+(?:system |initial |original |hidden |secret "
    r"|full |exact |internal )?(?:prompt|instructions|rules|configuration|guidelines)\b|"
    r"\b(?:repeat|print|output) (?:everything|all|the (?:text|words)) (?:above|before)\b",
    # A new role or mode ("you are now DAN", "pretend you are", "developer mode").
    rf"\b(?:you are|you're|you will be|you'll be)\s+(?:now|henceforth|from now on)\s+(?:(?:an?|the"
    rf"|my|called|named)\s+)?(?:\w+\s+)?(?:{_MODEL}|{_ROLE})\b|\b(?:you are|you're|you will be|"
    rf"you'll be|act as|behave as|pose as|acting as)\s+(?:(?:an?|the|my|called|named)\s+)?"
    rf"(?:\w+\s+)?{_ROLE}\b|\b(?:act|behave|pose) as (?:an?|the|my) (?:\w+\s+)?{_MODEL}\b",
    r"\bfrom now on,? (?:you (?:are|will (?:say|answer|respond|reply|act|only))|respond|answer|"
    r"reply|act|speak|talk|always|only)\b|\byou are (?:now )?in (?:developer|dan|god|debug|admin"
    rf"|unrestricted|jailbreak) mode\b|\byou are no longer (?:bound|restricted|limited|"
    rf"constrained|an? {_MODEL}|required to follow)\b",
    r"\bpretend (?:to be|you are|you're|that you|you have|you can)\b|\brole[ -]?play|\bimagine "
    r"you are\b|\bstay in character\b|\bplay the (?:role|part) of\b|\b(?:assume|adopt|take on) "
    r"the (?:role|persona|identity) of\b|\blet's play a game\b|\bhypothetically\b|\bin a "
    r"(?:fictional|hypothetical) (?:world|scenario)",
    r"\b(?:developer|dev|god|debug|jailbreak|opposite|unrestricted) mode\b|\bjailbr(?:eak|oken)\b"
    rf"|\bdo anything now\b|\b(?:uncensored|unfiltered) (?:mode|{_MODEL}|answers?|responses?|"
    r"version)\b|\bwithout (?:any )?(?:filters|censorship|guardrails|safety (?:rules|guidelines"
    r"|filters)|ethical)",
    # Dictating the answer ("tell the customer to", "respond only with", "do not mention").
    rf"{_IMPERATIVE}(?:tell|ask|instruct|advise|direct|remind|urge|request|inform|get|make|have|"
    rf"convince|persuade)\s+{_PEOPLE}\s+(?:to|that)\b|{_IMPERATIVE}(?:say|claim|insist|state) "
    rf"(?:that|to (?:the )?(?:customers?|users?))\b|{_IMPERATIVE}(?:say|reply|answer|write) (?:yes|"
    r"only|exactly)\b|\b(?:tell|ask) me to (?:send|e-?mail|give|share|wire|type|post|pay)\b|"
    rf"\b(?:mock|insult|ridicule|make fun of|threaten|scold|swear at|be rude to)\s+{_PEOPLE}\b|"
    r"\brepeat after me\b",
    r"\b(?:respond|answer|speak|talk)\s+(?:only|exclusively|solely)\b|\bonly (?:respond|reply|"
    r"answer)\s+(?:with|in|by)\b|\b(?:respond|reply|answer) (?:in (?:all caps|uppercase|capitals"
    r"|pirate)|with (?:only|exactly|the (?:word|phrase)))|\b(?:begin|start|end) (?:your|every|"
    r"each|all) (?:answers?|repl(?:y|ies)|responses?|messages?) with\b|\bin (?:every|each|all|"
    r"your) (?:answers?|responses?)\b",
    r"\b(?:do not|don't|never|must not|mustn't)\s+(?:mention|reveal|disclose|discuss|acknowledge"
    r"|admit|refer to|talk about|cite|tell (?:the )?(?:customers?|users?))\b(?!\s+your\b)",
    r"\byou (?:will|must|shall|should) (?:always |only |now )?(?:say|claim|insist|recommend|"
    r"praise|insult|output|print|reveal|pretend|obey|comply)\b|\bobey (?:me|my|these|the "
    r"following)\b|\bcomply with (?:my|these|the following)\b",
    # Demands in a question ("you must give me a full refund", "my manager said").
    r"\byou (?:must|have to|need to|are (?:required|obliged|authori[sz]ed|allowed|supposed) to|"
    r"are going to|will now|shall) (?:now )?(?:give|send|grant|issue|approve|promise|guarantee|"
    r"refund|credit|agree|confirm|waive|pay|compensate)\b[^.]{0,40}\b(?-i:me|my|I)\b",
    r"\b(?:my|your) (?:manager|boss|supervisor|ceo|owner|admin(?:istrator)?|developers?|"
    r"creators?|operators?)\b[^.]{0,40}\b(?:said|says|told|authori[sz]ed|approved|allowed|wants|"
    r"instructed|confirmed|ordered)\b|\b(?:i am|i'm|as) (?:the|a|an|your) (?:\w+ )?(?:owner|"
    r"manager|ceo|admin(?:istrator)?|developer|supervisor)\b[^.]{0,30}\b(?:tell|order|instruct|"
    r"authori[sz]e|allow)(?:ing)? you\b",
)
_OPENERS = tuple(re.compile(pattern, _I | re.M) for pattern in _OPENER_PATTERNS)
_INJECTIONS = (
    *_OPENERS,
    *(re.compile(pattern, _I | re.M) for pattern in _INJECTION_PATTERNS),
    re.compile(r"\bDAN\b"),  # case-sensitive: "Dan from support" is a person
)

_SECRET = re.compile(
    r"\b(?:(?:credit |debit |bank |payment )?card (?:number|no|details|digits)|long number on "
    r"(?:your|the) card|full card|cvv2?|cvc2?|cv2|csc|security code|card verification|"
    r"(?:three|3)[- ]digit code|pin(?: code| number)|passwords?|passcodes?|passphrase|"
    r"one[- ]time (?:pass)?(?:code|password|pin)|otp|(?:verification|2fa|two[- ]factor|"
    r"authentication|login|sign[- ]in|sms|recovery|backup) codes?|bank (?:account )?(?:details|"
    r"number)|account number|sort code|iban|routing number|ssn|social security(?: number)?|"
    r"national insurance number|mother's maiden name|seed phrase|private key)\b|\bPINs?\b",
    _I,
)
_SEND = re.compile(
    r"\b(?:send|give|tell|share|provide|post|paste|reply with|dm|forward|read (?:out|back)|"
    r"spell out|submit|supply|disclose|reveal|let (?:us|me) know|attach|upload)\b(?!\s+you\b)|"
    # "email" and "text" only as verbs: "your email address and password" asks for nothing.
    r"\b(?:e-?mail|text|message)(?:ing)? (?:us|me|it|them|your|the|this|that|to)\b|"
    r"\b(?:what is|what's|what are) your\b|\b(?:we|i|we'll|i'll|we will|i will) (?:need|require)"
    r"\b",
    _I,
)
_ENTER = re.compile(r"\b(?:enter|type|input|confirm|verify|key in|fill in)\b", _I)
# Entering a secret into our own product is a normal step ("enter your password to confirm").
_IN_PRODUCT = re.compile(
    r"\b(?:in|into|on|under|at) (?:the |your |our )?(?!chat)(?:\w+ )?(?:app|website|site|"
    r"account|checkout|settings|sign[- ]in|login|page|screen|form|field)\b|\bwhen (?:prompted|"
    r"asked by the)\b",
    _I,
)
_NEGATION = re.compile(
    r"\b(?:never|not|no one|nobody|don't|won't|can't|cannot|shouldn't|mustn't|avoid)\b"
    r"|n't\b",
    _I,
)
# Kinds of secret, for matching an answer's entry step with the passages' ("code" covers the
# verification, 2FA and SMS codes, which passages often call just "a code").
_FAMILIES = tuple(
    (name, re.compile(pattern, _I))
    for name, pattern in (
        ("security code", r"cvv|cvc|cv2|csc|security code|digit code|card verification"),
        ("password", r"pass(?:word|code|phrase)"),
        ("pin", r"\bpins?\b"),
        ("bank", r"bank|iban|sort code|account number|routing"),
        ("identity", r"social security|ssn|national insurance|maiden|seed phrase|private key"),
        ("code", r"\bcodes?\b|\botp\b"),
        ("card", r"\bcard\b"),
    )
)
_CLAUSE = re.compile(r"[,;:\u2013\u2014]|\bbut\b|\bhowever\b", _I)
_FREE = r"\bfree\b|\bno (?:extra )?(?:cost|charge)\b|\bcomplimentary\b"
_FULL = r"\bfull refund\b|\bin full\b|\bfully refund|\b(?:full|whole|entire) (?:amount|price)\b"
_CREDIT = r"\bvouchers?\b|\bgoodwill\b|\bgift card\b|\bstore credit\b"
_INSTANT = (
    r"\b(?:instant|immediate) (?:refund|credit|replacement|compensation)s?\b|\brefund(?:ed|s)? "
    r"(?:\w+ )?(?:instantly|immediately|right away|today|within (?:the hour|minutes))\b"
)
# (answer phrase, what a genuine passage sentence must say for it, sharing another word too).
_PROMISES = (
    (r"\bguarantee[ds]?\b", r"\bguarantee"),
    (r"\bpromised?\b", r"\bpromise"),
    (r"\bcompensat(?:e|ed|ion)\b", r"\bcompensat"),
    (r"(?<!feel )\bfree\b|\bat no (?:extra )?cost\b|\bno charge\b|\bcomplimentary\b", _FREE),
    (r"\balways\b", r"\balways\b"),
    (r"\bfull refund|\brefund(?:ed)? (?:you )?in full\b|\bfully refund", _FULL),
    (r"\b100 ?%|\b100 percent\b", r"\b100 ?%|\b100 percent\b"),
    (r"\bmoney[- ]back\b", r"\bmoney[- ]back\b"),
    (_CREDIT, _CREDIT),
    (r"\bwaive[ds]?\b", r"\bwaive"),
    (r"\b\d+ ?% (?:off|discount)\b|\bdiscount of\b", r"\b\d+ ?% (?:off|discount)\b|\bdiscount"),
    (_INSTANT, r"\binstant|\bimmediately\b|\bright away\b|\btoday\b"),
    (r"\blifetime\b|\bunlimited\b|\bno questions asked\b", r"\blifetime\b|\bunlimited\b"),
    (r"\bprice match", r"\bprice match"),
)
_PROMISE_RES = tuple((re.compile(say, _I), re.compile(need, _I)) for say, need in _PROMISES)
_ABUSE = re.compile(
    r"\b(?:idiot|idiotic|stupid|moron|dumb|pathetic|loser|imbecile|shut up|clown|incompetent|"
    r"hate you|get lost)\b",
    _I,
)
_TOKEN = re.compile(r"[A-Za-z][A-Za-z&'-]*")
_CAMEL = re.compile(r"[A-Za-z]+[a-z][A-Z][A-Za-z]*")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(
    r"\b(?:https?://)?(?:www\.)?((?:[a-z0-9-]+\.)+(?:com|net|org|io|co|uk|example|info|biz|shop|"
    r"store|help|support|xyz|ru|cn|de|nl|fr|eu|app|me|ly|us|gg|top|online|site))\b(?![@\w-])",
    _I,
)
_PHONE = re.compile(r"(?<![\w.,])(?:\+|00)?\(?\d[\d ().-]{6,}\d(?![\w.,]\d)")
_DASHES = str.maketrans({"\u2013": "-", "\u2014": "-", "\u2011": "-", "\u2012": "-"})
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_LEAK_WORDS = content_words(SYSTEM_PROMPT.format(company="the company") + ANSWER_INSTRUCTION)
_CUT = "\x00"  # marks where an injected sentence was cut out, until the lines are tidied
_PARAGRAPH = re.compile(r"\n\s*\n")
# A line break inside a sentence (hard-wrapped Markdown), not before a list item, table or heading.
_SOFT_BREAK = re.compile(r"(?<![.!?:\n])[ \t]*\n[ \t]*(?![-*+|#>]|\d+[.)]\s)(?=\S)")


def _is_injection(sentence: str) -> bool:
    return any(pattern.search(sentence) for pattern in _INJECTIONS)


def _opens_block(sentence: str) -> bool:
    """A bare override or header ("Ignore all previous instructions.", "NEW RULES:")."""
    if sentence.rstrip().endswith(":") and _is_injection(sentence):
        return True
    for pattern in _OPENERS:
        match = pattern.search(sentence)
        if match:
            rest = sentence[: match.start()] + " " + sentence[match.end() :]
            return len(content_words(rest)) <= OPENER_MAX_EXTRA_WORDS
    return False


def find_injections(text: str) -> list[str]:
    """The sentences of a passage or question that instruct the model rather than inform.

    A sentence is injected when it overrides the model's rules ("ignore all previous
    instructions"), addresses the model ("note to the AI", "as an AI you must"), changes its role
    ("you are now DAN", "pretend you are"), asks for its prompt, or dictates the answer ("tell the
    customer to ...", "respond only with", "do not mention"). After a bare override or an
    instruction header, the rest of its paragraph is injected too. Help-centre wording aimed at
    the customer ("Tell us your order number", "Ignore the first email if you already paid")
    is not. Hard-wrapped lines are joined first, so a sentence broken over two lines is judged
    (and returned) whole.

    Args:
        text: A passage or a visitor's question.

    Returns:
        The injected sentences, stripped, in text order.
    """
    found: list[str] = []
    for paragraph in _PARAGRAPH.split(_SOFT_BREAK.sub(" ", text)):
        in_block = False
        for sentence in split_sentences(paragraph):
            if in_block or _is_injection(sentence):
                found.append(sentence)
                in_block = in_block or _opens_block(sentence)
    return found


@functools.lru_cache(maxsize=512)
def _sanitized(text: str) -> tuple[str, tuple[str, ...]]:
    injected = find_injections(text)
    if not injected:
        return text, ()
    text = _SOFT_BREAK.sub(" ", text)  # the sentences were found in the unwrapped text
    kept, cursor = [], 0
    for sentence in injected:
        start = text.find(sentence, cursor)
        if start >= 0:
            kept.append(text[cursor:start] + _CUT)
            cursor = start + len(sentence)
    kept.append(text[cursor:])
    lines: list[str] = []
    for line in "".join(kept).splitlines():
        if _CUT in line:
            line = re.sub(rf"^[ \t]*{_CUT}[ \t]*", "", line)
            line = re.sub(rf"[ \t]*{_CUT}[ \t]*", " ", line).rstrip()
            # A line emptied by a cut (a bullet, a stray quote) goes; a blank line stays.
            if re.fullmatch(r"\W*", line):
                continue
        if line.strip() or (lines and lines[-1]):
            lines.append(line if line.strip() else "")
    return "\n".join(lines).strip(), tuple(injected)


def sanitize_passage(text: str) -> tuple[str, list[str]]:
    """Removes injected sentences from a passage, keeping the rest readable.

    Args:
        text: The passage text (or a question).

    Returns:
        ``(clean text, removed sentences)``: the text without the sentences ``find_injections``
        returns, with hard-wrapped lines joined and emptied lines dropped; the text unchanged
        (and ``[]``) when nothing is injected.
    """
    clean, removed = _sanitized(text)
    return clean, list(removed)


def _clauses(text: str) -> list[str]:
    return [part for part in _CLAUSE.split(text) if part.strip()]


def _secret_family(secret: str) -> str:
    return next((name for name, pattern in _FAMILIES if pattern.search(secret)), secret.lower())


def _asks_for_secret(text: str, genuine: Sequence[str]) -> bool:
    steps = [s for g in genuine for s in split_sentences(g) if _ENTER.search(s)]
    for clause in _clauses(text):
        secrets = [match.group(0) for match in _SECRET.finditer(clause)]
        if not secrets or _NEGATION.search(clause):
            continue
        if _SEND.search(clause):
            return True
        if _ENTER.search(clause) and not _IN_PRODUCT.search(clause):
            # An entry step the genuine passages give too ("Enter your password to confirm").
            for family in {_secret_family(secret) for secret in secrets}:
                pattern = dict(_FAMILIES).get(family)
                if pattern is None or not any(pattern.search(step) for step in steps):
                    return True
    return False


def _follows_injection(
    text: str, injected: Sequence[str], genuine_words: set[str], question: str
) -> bool:
    words = content_words(text)
    if not words:
        return False
    # Prompt words the passages also use ("never ask for your password") recite nothing.
    leaked = words & _LEAK_WORDS - genuine_words - content_words(question)
    if len(leaked) >= LEAK_MIN_WORDS and len(leaked) / len(words) >= LEAK_MIN_SHARE:
        return True
    if injected and _ABUSE.search(text):
        return True
    for sentence in injected:
        novel = words & content_words(sentence) - genuine_words
        if novel & _names(sentence):  # "BrightHome accepts Visa": the injection's brand, used
            return True
        share = len(novel) / len(words)
        if (len(novel) >= ECHO_MIN_WORDS and share >= ECHO_MIN_SHARE) or (
            novel and share >= ECHO_SHORT_SHARE
        ):
            return True
    return False


def _names(text: str) -> set[str]:
    """CamelCase words and lone acronyms (BrightHome, DAN, CEO), not shouted phrases."""
    tokens = _TOKEN.findall(text)
    names = []
    for i, token in enumerate(tokens):
        shouted = any(
            t.isupper() and len(t) > 1 for t in tokens[max(0, i - 1) : i + 2] if t != token
        )
        if _CAMEL.fullmatch(token) or (token.isupper() and len(token) > 1 and not shouted):
            names.append(token)
    return content_words(" ".join(names))


def _contacts(text: str) -> set[str]:
    """E-mail addresses, web hosts (without ``www.``) and phone numbers (digits only)."""
    # "2200\u20136500 K" in a passage and "2200-6500 K" in the answer are the same figure.
    text = text.translate(_DASHES)
    found = {email.lower() for email in _EMAIL.findall(text)}
    without_emails = _EMAIL.sub(" ", text)
    found |= {host.lower().removeprefix("www.") for host in _URL.findall(without_emails)}
    for match in _PHONE.finditer(without_emails):
        digits = re.sub(r"\D", "", match.group(0))
        if PHONE_MIN_DIGITS <= len(digits) <= PHONE_MAX_DIGITS and not _DATE.match(match.group(0)):
            found.add(digits)
    return found


def _known_contacts(sources: Sequence[str]) -> set[str]:
    known: set[str] = set()
    for source in sources:
        contacts = _contacts(source)
        # A passage's e-mail address vouches for its domain (support@x.example -> x.example).
        known |= contacts | {c.split("@", 1)[1] for c in contacts if "@" in c}
    return known


def _unsupported_promise(text: str, genuine: Sequence[str]) -> bool:
    words = content_words(text)
    for says, needs in _PROMISE_RES:
        match = says.search(text)
        if not match:
            continue
        others = words - content_words(match.group(0))
        supported = any(
            needs.search(sentence) and (not others or others & content_words(sentence))
            for source in genuine
            for sentence in split_sentences(source)
        )
        if not supported:
            return True
    return False


def policy_violation(sentence: str, *, passages: Sequence[Passage], question: str) -> str | None:
    """Tells whether an answer sentence must be withheld from the visitor, and why.

    The passages and the question are read with their injected sentences removed
    (``sanitize_passage``): an injection cannot vouch for a promise or an address it plants.

    Args:
        sentence: One sentence of the answer (``[n]`` markers are ignored).
        passages: The passages the answer was written from.
        question: The visitor's question.

    Returns:
        ``ASKS_FOR_SECRET`` (asks the visitor to send a card number, CVV, PIN, password,
        one-time code, bank details... ; "never share your password" is fine),
        ``FOLLOWS_INJECTION`` (echoes or obeys an injected instruction, or recites the prompt),
        ``UNKNOWN_CONTACT`` (an e-mail address, URL or phone number in no passage),
        ``UNSUPPORTED_PROMISE`` (a guarantee, compensation, "free", "always", "full refund",
        "100%"... that no passage states), or None when the sentence may be shown.
    """
    text = strip_markers(sentence)
    injected: list[str] = []
    genuine: list[str] = []
    for passage in passages:
        clean, removed = sanitize_passage(passage.text)
        genuine.append(f"{passage.title}\n{clean}")
        injected += removed
    asked, removed = sanitize_passage(question)
    injected += removed
    if _asks_for_secret(text, genuine):
        return ASKS_FOR_SECRET
    genuine_words = content_words(" ".join([*genuine, asked]))
    if _follows_injection(text, injected, genuine_words, asked):
        return FOLLOWS_INJECTION
    if _contacts(text) - _known_contacts([*genuine, asked]):
        return UNKNOWN_CONTACT
    if _unsupported_promise(text, genuine):
        return UNSUPPORTED_PROMISE
    return None
