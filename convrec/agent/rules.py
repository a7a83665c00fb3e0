"""A deterministic parser for the common ways people ask for items. Needs no LLM.

It reads a message in this order, marking the words it uses so later steps do not reuse them:
1. text that tries to instruct the system ("ignore previous instructions", "you are now…", role
   tags, "what's your system prompt?", "respond with JSON…"): each such sentence is set aside and
   `injection` is flagged; the other sentences are read as usual;
2. dialogue acts ("start over", "something else", "show me more", "show them again", "undo",
   "tell me about #2") and cues that the message adds to ("also", "too", "a funnier one") or
   overrides ("actually", "instead") what was asked before;
3. item references: by position ("the second one", "#2", "the last one", "that one", "the first
   two"), by title after a cue ("like Toy Story", "I loved Heat", "I've seen Fargo") or in quotes,
   fuzzy-matched with rapidfuzz against the catalog's titles; each with its role (similar, liked,
   disliked, rejected) from the words before or after it ("#3 looks great");
4. numbers: years, decades ("90s", "the eighties", "late 70s"), comparisons ("before 1980", "1990
   or later"), spans ("between 1985 and 1990", "70s or 80s"), "the last 5 years", amounts with
   units ("under $20") for amount facets, and how many items are wanted ("show me 3");
5. phrases from the catalog's lexicon, longest first (values and synonyms, vague numeric words
   such as "old", relative words such as "older"), then single words with one typo ("comdey").
   Each mention gets a polarity from the cue that opens its clause: negated ("no", "not too",
   "nothing", "without", "anything but"), allowed ("romance is fine", "I don't mind action"),
   withdrawn ("forget the horror"), else wanted; a list carries its first item's polarity ("no
   horror or war"). Wanted values joined by "or" are any-of, otherwise all-of;
6. the content words left form the semantic `query`; words under a negation that matched nothing
   go to `avoid` instead ("nothing with clowns"). A lexicon's topic phrases ("vampires" for
   Horror) mean their value and stay search words too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from convrec.agent.lexicon import Lexicon, NumericFacet, Phrase, load_lexicon, normalize, words
from convrec.agent.preferences import ItemRef, Preferences, RangeShift, RelatedRef
from convrec.retrieval.catalog import CatalogSchema
from convrec.retrieval.filters import NumericRange

MAX_CHARS = 2000  # longer messages are cut: nobody states preferences in an essay

# HTML in a message is markup, not words: scripts and styles go with their content, other tags
# go, entities are decoded ("sci-fi &amp; fantasy"). Chat-template role tags (<|im_start|>,
# <system>) are not HTML and stay, for the injection check to see.
_SCRIPT_OR_STYLE = re.compile(r"<\s*(script|style)\b[^>]*>.*?(?:<\s*/\s*\1\s*>|$)", re.I | re.S)
_HTML_TAG = re.compile(r"</?\s*(?!system\b|assistant\b|user\b)[a-z][a-z0-9]*\b[^<>]*>", re.I)


def strip_markup(text: str) -> str:
    import html

    text = _SCRIPT_OR_STYLE.sub(" ", text)
    return html.unescape(_HTML_TAG.sub(" ", text))

Role = Literal["similar", "liked", "disliked", "rejected", "focus", "why_not"]
Polarity = Literal["want", "neg", "allow", "withdraw"]

# --- English word lists (catalog words live in the lexicon) ---------------------------------------
STOPWORDS = set(
    """a an the and or but if then so of to in on at by for with from about into over under as is are was were be
    been being am i me my mine we us our you your it its this that these those there here he she they them their
    what which who whom whose where when why how can could would should will shall may might must do does did done
    doing have has had having get got give gives gave show shows showed find looking look searching search want
    wants wanted need needs like likes liked love loves prefer preferred would d ll ve re s t m im id ive please pls plz
    thanks thank thx ok okay yes yeah yep sure hey hi hello hmm um uh well just only also too very really quite
    know dunno decide unsure undecided think
    pretty bit little lot lots some any something anything someone one ones thing things kind sort type stuff
    maybe perhaps probably mood feel feeling today tonight now night evening weekend watch watching see seeing
    recommend recommendation recommendations suggest suggestion suggestions good great nice cool best better
    decent fine fun new more most much many few other another else same such than while all both each every
    not no nothing none never without again back there whatever idea ideas options option pick picks title
    titles list let lets go going make makes made tell said say already looks look sounds seems lol idk
    smth sth u ur pls plz released release came even next top either whichever set ones instead
    ideally preferably possibly possible hopefully honestly actually basically literally definitely certainly
    kinda sorta somewhat guess suppose wondering chance after fact course anyway anyways sorry oops
    girlfriend boyfriend wife husband partner spouse fiance fiancee gf bf grandma grandpa granny grandmother
    grandfather grandparents parents mom mum dad roommate roommates coworkers colleagues son sons daughter daughters
    brother brothers sister sisters friend friends nephew niece nephews nieces
    morning afternoon sunday saturday friday weekday rainy cozy help try trying ever yesterday couple
    usually normally typically generally often ago still during starring featuring mix mixture blend combination
    haven havent hasn hasnt hadn hadnt didn didnt doesn doesnt isn isnt aren arent wasn wasnt weren werent
    un una unos unas el la los las de del y con sin para por que quiero une le les des du et avec sans pour
    je veux ein eine einen einem der die das den dem aus und mit ohne fur ich will il lo gli della dei degli
    senza per voglio di da""".split()
)
NEGATION_CUES = [
    "no", "not", "nothing", "none", "never", "nor", "neither", "without", "w o", "avoid", "avoiding", "except",
    "excluding", "exclude", "skip", "minus", "sans", "hate", "hates", "dislike", "anything but", "other than",
    "rather than", "instead of", "but not", "don t want", "do not want", "don t like", "do not like", "dont want",
    "dont like", "doesn t", "does not", "isn t", "is not", "aren t", "are not", "not a fan of", "not into",
    "not in the mood for", "no more", "sick of", "tired of", "enough of", "fed up with", "can t stand",
    "cannot stand", "won t", "will not", "shouldn t", "should not", "stay away from", "keep away from",
    "spare me", "not interested in", "rule out", "leave out", "less", "fewer", "nada", "sin", "pas de",
    "kein", "keine", "ohne", "no to", "say no to", "pass on",
    # "too many dramas", "way too much violence" (of what was shown): fewer of them (a softener, see `SOFTENERS`)
    "too many", "too much", "way too many", "way too much", "far too many", "far too much",
]
# Asking for the best-liked: the picks then lean on how well people rated them.
QUALITY = [r"\b(?:top|highest|highly|best|well|critically|most) ?-?(?:rated|reviewed|acclaimed|praised|loved)\b",
           r"\bacclaimed\b", r"\bmasterpieces?\b", r"\bmust ?-?sees?\b", r"\ball ?-?time (?:greats?|classics?)\b",
           r"\b(?:the )?(?:very )?best\b(?! friend)", r"\b(?:greatest|finest)\b", r"\btop ?-?notch\b",
           r"\bof all ?-?time\b", r"\bever made\b",
           # "the top 5 comedies ranked by rating" (a new request; "sort them by rating" is about the list)
           r"\b(?:ranked|sorted|ordered|listed) by (?:their )?(?:rating|ratings|score|scores|reviews)\b",
           # "what's your favourite movie?": convrec has none of its own; the best liked here
           r"\byour (?:own |personal |all ?-?time )?(?:favou?rites?|faves?|top picks?)\b",
           # "something clever", "a smart thriller": no data on wit; the best liked stand in
           r"\b(?:smart|clever|intelligent|thought ?-?provoking|well ?-?made|well ?-?written|brainy)\b"]
# How widely known the picks should be (`Preferences.traits["renown"]`). Lesser-known phrases are read
# first, so "nothing too mainstream" is not read as "mainstream".
_FAMOUS = r"(?:mainstream|popular|famous|obvious|well ?-?known|blockbusters?|commercial)"
LESSER_KNOWN = [r"\bhidden (?:gems?|treasures?)\b", r"\bunder ?-?(?:rated|appreciated|valued|seen)\b",
                r"\bunder the radar\b", r"\b(?:lesser|less|little|relatively un|largely un)[ -]?known\b",
                r"\bobscure\b", r"\boverlooked\b", r"\boff the beaten (?:path|track)\b", r"\bdeep cuts?\b",
                r"\bsleeper hits?\b", r"\bcult(?: ?-?(?:classics?|films?|movies?|favou?rites?|hits?|following|status))?\b",
                r"\b(?:few|not many|hardly any) (?:people|folks) (?:have )?(?:seen|heard of|know)\b",
                r"\b(?:nobody|no one) (?:has )?(?:seen|heard of|knows)\b",
                r"\b(?:i|we) (?:probably )?(?:haven ?'?t|have not|never) heard of\b",
                # "surprise me": not the crowd favourites everyone gets first (the chip can go)
                r"\bsurprise (?:me|us)\b", r"\bsomething (?:unexpected|i wouldn ?'?t (?:have )?(?:found|picked|expect))\b",
                r"\b(?:at )?random(?:ly)?\b",  # "a random movie": a surprise, not the word (it found Ayn Rand)
                rf"\b(?:not|nothing|no|non|less|never|isn ?'?t|aren ?'?t) ?-?(?:too |so |very |that |overly |as |the |a |an )?{_FAMOUS}\b"]
WELL_KNOWN = [rf"\b(?:most |very |really |hugely |super )?{_FAMOUS}\b", r"\bcrowd ?-?pleasers?\b",
              r"\b(?:big|smash|box ?-?office) hits?\b", r"\b(?:every ?(?:one|body)|most people) (?:has |have )?(?:seen|knows?)\b"]
# Awards (`Preferences.traits["awards"]`): a knowledge graph counts them per film without naming
# them, so "Oscar-winning" is read as "award-winning" (the turn says so). Nominations first, so
# "Oscar-nominated" is not read as a win.
_AWARD = r"(?:oscars?|academy awards?|golden globes?|baftas?|emmys?|palme d ?or|awards?)"
AWARD_NOMINATED = [rf"\b{_AWARD} ?-?nominated\b", rf"\bnominated for (?:an? |any |the |some )?{_AWARD}\b",
                   rf"\b{_AWARD} nominees?\b"]
AWARD_WON = [rf"\b{_AWARD} ?-?(?:winning|winners?|laden|decorated)\b",
             rf"\b(?:won|wins?|got|get|received?) (?:an? |any |the |some |several |many |lots of |multiple )?{_AWARD}\b",
             rf"\bwinners? of (?:an? |any |the |some )?{_AWARD}\b", r"\b(?:oscars?|academy awards?)\b(?! wilde)"]
FOREIGN = [r"\bforeign(?: ?-?language)?\b", r"\bnon ?-?english\b", r"\bnot in english\b",
           # "subtitles" alone too: "with" may be read already ("with subtitles" as a whole reply)
           r"\b(?:with |reading )?subtitles\b", r"\bsubtitles\b", r"\bsubtitled\b", r"\bworld cinema\b",
           r"\binternational (?:films?|movies?|cinema)\b"]
# In the language most items share: "in English", "English-language" (refused, a foreign one:
# "no foreign films", "I don't like subtitles" read as `FOREIGN` under a negation)
NATIVE = [r"\b(?:only )?in english(?: only)?\b", r"\benglish ?-?(?:language|speaking)\b", r"\benglish only\b"]
# Away from the person's own history (`Preferences.traits["familiarity"]`), read before the dialogue
# acts so "something different from what I usually watch" is not "something different" (new picks
# under the same wishes).
_HABITUAL = r"(?:usually|normally|typically|generally|often|always|tend to|would normally|would usually|d normally|d usually)"
_PICK = r"(?:watch|see|like|pick|choose|read|go for|enjoy|get)"
_HABIT_NOUN = (r"(?:usual(?! suspects)|normal|typical|regular|comfort zone|go ?-?tos?|habits?|routine)"
               r"(?: (?:stuff|fare|picks|taste|genres?|choices|things|movies|films|books|ones|viewing|reading))?")
UNFAMILIAR = [
    rf"\b(?:different|away|a break|a departure|a change) from (?:what|the (?:stuff|things?|movies?|films?|books?|genres?"
    rf"|kind of (?:stuff|things?|movies?|films?|books?))(?: that)?) (?:i|we) {_HABITUAL} {_PICK}\b",
    rf"\b(?:not|nothing like|unlike|outside(?: of)?|beyond|break(?:ing)? (?:out of|from)|away from|other than"
    rf"|different from|a change from|a break from) (?:my|our|the) {_HABIT_NOUN}\b",
    r"\bout(?:side)? of (?:my|our) comfort zones?\b",
    r"\b(?:expand|broaden|widen|stretch) (?:my|our) (?:horizons?|tastes?|range)\b",
    rf"\b(?:not|nothing) (?:what|the (?:kind|sort|type) of (?:thing|stuff|movie|film|book)s?(?: that)?) (?:i|we) {_HABITUAL} {_PICK}\b",
    r"\b(?:something|anything|one|a (?:movie|film|book)) (?:that )?(?:i|we) (?:wouldn t|would not|d never|would never|don t|do not"
    r"|never) (?:normally |usually |typically |ever )?(?:watch|pick|choose|go for|read|think of)\b",
    r"\b(?:a )?change of pace\b", r"\b(?:mix|shake) (?:it|things) up\b", r"\bnew (?:genres?|territory|ground) for (?:me|us)\b",
]
# The worst rated (`Preferences.traits["rating"]`); "the best" is `Preferences.quality`.
WORST = [r"\b(?:the )?worst(?: ?-?(?:rated|reviewed))?\b(?! (?:case|part|thing|of it|that could|day|days|week|year|night|time|mood))",
         r"\b(?:lowest|poorly|badly|terribly) ?-?(?:rated|reviewed)\b", r"\bso bad (?:it|they) (?:s|is|are|re) good\b",
         r"\bmost (?:hated|panned|disliked)\b"]
NAMED_AWARD = re.compile(r"\b(?:oscars?|academy|globes?|baftas?|emmys?|palme)\b")
# Negations that ask for less of something, not none of it ("less silly", "not too violent").
SOFTENERS = {"less", "fewer", "too"}  # "too scary" (said of what was shown): less of it, not none
NEGATION_WORDS = {"not", "t", "never", "nothing", "none"}  # before "too": "not too scary", "isn't too long"
SOFTENED_NOT = {"too", "so", "overly", "as", "that"}
# A "none" phrase said as "as well" ("an animated film adults will enjoy too", "even grown-ups")
# refuses nothing: the person wants something for both.
INCLUSIVE_BEFORE = {"even", "also"}
INCLUSIVE_AFTER = {"too", "also", "alike", "both"}
INCLUSIVE_STOPS = {"and", "not", "no", "without", "except"}
ALLOW_CUES = ["don t mind", "do not mind", "dont mind", "ok with", "okay with", "fine with", "open to",
              "don t care about", "do not care about"]
ALLOW_AFTER = re.compile(r"^(?:is|are|would be|s|re)? ?(?:fine|ok|okay|alright|allowed|acceptable|good too|fine too)\b"
                         r"|^(?:works|is allowed|are allowed|can stay|is back|are back)\b")
WITHDRAW_CUES = ["forget", "forget about", "never mind", "nevermind", "drop", "ditch", "lose", "scratch",
                 "no need for", "doesn t have to be", "does not have to be", "needn t be", "not necessarily",
                 "remove", "take out", "get rid of"]
# Words that may stand between a cue and what it governs ("not too scary", "no more of that",
# "nothing that is violent", "forget the horror").
FILLERS = set(
    """a an the any anything something stuff too very overly so that s is are be being which with of more really
    kind sort type super particularly all kinds much movies movie films film flicks things thing please again
    heavy heavily on about those these it by from""".split()
)
CONNECTORS = {"or", "and", "nor", ",", "/", "&", "plus", "either"}
OR_WORDS = {"or", "/", "either", "whichever", "nor"}
CLAUSE_BREAKS = {",", ".", "!", "?", ";", ":", "(", ")", '"', "-", "but", "however", "though", "although",
                 "instead", "rather", "yet", "whereas", "just", "only", "prefer", "preferably", "ideally", "maybe",
                 "perhaps", "then"}
BUT_NEG = {"anything", "everything", "all", "nothing"}  # "anything but X" is one negation
SENTENCE_BREAKS = {".", "!", "?", ";"}

ORDINAL_WORDS = {
    "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4, "fifth": 5,
    "5th": 5, "sixth": 6, "6th": 6, "seventh": 7, "7th": 7, "eighth": 8, "8th": 8, "ninth": 9, "9th": 9,
    "tenth": 10, "10th": 10, "last": -1, "final": -1, "top": 1, "latter": -1, "former": 1,
}
_ORDW = "|".join(sorted(ORDINAL_WORDS, key=len, reverse=True))  # the ordinal words as one alternation, longest first
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20}
_NUMW = r"\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty"
REF_NOUNS = (r"(?:one|ones|movie|movies|film|films|pick|picks|suggestion|suggestions|option|options|item|items|"
             r"title|titles|choice|choices|result|results|recommendation|recommendations|entry|entries|book|books)")
# Who "people who liked Fargo" can be (the similar cue and `ALSO_LIKED`)
LIKERS = ("people", "those", "viewers", "folks", "others", "anyone", "everyone")
ITEM_WORDS = (r"(?:movies|movie|films|film|flicks|flick|options|option|suggestions|suggestion|picks|pick|"
              r"recommendations|recommendation|titles|title|ideas|books|book|items|item|choices|results|ones)")

# Role cues, matched against the few words before a reference (longer, then nearer, wins).
ROLE_CUES: dict[Role, list[str]] = {
    "rejected": [
        "not", "no", "skip", "drop", "remove", "except", "without", "excluding", "exclude", "other than",
        "anything but", "but not", "not interested in", "nothing like", "not like", "none like", "unlike",
        "anything except", "seen", "watched", "saw", "i ve seen", "ive seen", "i have seen", "already seen",
        "seen already", "already watched", "i ve watched", "i have watched", "i ve already seen",
        "i have already seen", "i already saw", "not that", "don t show", "do not show", "never show",
        "get rid of", "cross off", "isn t", "is not", "aren t", "are not",  # "a sci-fi film that isn't Star Wars"
        "no to", "pass on", "i ll pass on", "i pass on",
        "swap", "swap out", "replace", "switch", "switch out", "exchange", "substitute",  # the act `swap`
    ],
    "disliked": [
        "hated", "hate", "i hate", "didn t like", "did not like", "don t like", "do not like", "dont like",
        "didnt like", "disliked", "dislike", "didn t enjoy", "did not enjoy", "not a fan of", "couldn t stand",
        "less like",  # "more like the first, less like the second": away from it
        "can t stand", "was bored by", "i hated", "i disliked", "i didn t like", "not a big fan of",
    ],
    "liked": [
        "loved", "love", "i love", "i loved", "liked", "i liked", "i like", "enjoyed", "i enjoyed", "adored",
        "big fan of", "fan of", "favorite is", "favourite is", "favorite was", "a fan of", "really liked",
        "really loved", "really enjoyed", "i also like", "i also love", "i also liked", "i also loved", "also liked",
        "also loved", "also enjoyed", "i also enjoyed", "favorite movie is", "favourite movie is", "favorite film is",
        "favourite film is", "favorite book is", "favourite book is", "favorite movie was", "favourite movie was",
        "favorite film was", "favourite film was",
        # the act `choose`: "I'll take #2", "let's go with the third one"
        "i ll take", "i ll go with", "i ll watch", "i ll pick", "i will take", "i will go with",
        "i will watch", "let s go with", "lets go with", "let s watch", "going with", "i choose", "i pick", "i m going with",
    ],
    "similar": [
        "like", "more like", "something like", "anything like", "similar to", "similar", "similar as",
        "along the lines of", "in the vein of", "same as", "closer to", "more of", "in the style of",
        "reminiscent of", "reminds me of", "same vibe as", "vibe of", "close to", "resembling", "such as",
        "akin to", "comparable to", "inspired by", "if i liked", "if you liked", "fans of", "for fans of",
        "as good as", "movies like", "films like", "stuff like", "things like", "ones like",
        "in the spirit of", "a la", "a lot like", "similar in tone to", "similar in spirit to", "similar in feel to",
        "in the same spirit as",
        # "what did people who liked Fargo also like?": what those people liked, as "like Fargo" reads
        *(f"{who} who {verb}" for who in LIKERS for verb in ("liked", "loved", "enjoyed", "like", "love", "enjoy", "watched")),
        # "compare Alien and Aliens", "#1 vs #2": the references compared (the act says so)
        "compare", "compare to", "compare with", "compared to", "compared with", "difference between", "vs",
        "versus", "which is better", "should i watch",
    ],
    # "why not Star Wars?": a question about a title the picks left out, not a refusal of it
    "why_not": ["why not", "why no", "why didn t you suggest", "why didn t you recommend", "why didn t you pick",
                "why didn t you include", "why didn t you show", "why didn t i get", "why isn t", "why wasn t",
                "how come no", "how come not", "how come you didn t suggest", "how come you didn t recommend",
                "what s wrong with", "you forgot", "you missed"],
    "focus": ["tell me about", "tell me more about", "more about", "what is", "what s", "info on", "details on",
              "details about", "information about", "describe", "explain", "why", "why did you pick",
              "why did you choose", "why did you suggest", "why did you recommend", "why is", "why was",
              "is", "was", "does", "did", "has", "how is", "how good is", "what kind of movie is", "what kind of film is",
              "how many people rated", "how many people liked", "how many people saw", "how many ratings does",
              "how many ratings has", "how popular is", "how well known is", "how is it rated", "how well rated is",
              "who directed", "who made", "who wrote", "who is in", "who s in", "who stars in", "who starred in",
              "when did", "when was", "what year is", "what year was", "what genre is", "how long is",
              "where can i watch", "where can i stream", "where can i find", "where can i rent", "where do i watch",
              "where to watch", "where to stream", "where is"],
}
# Words that leave a "tell me more" bare ("ok, tell me more please")
BARE_TELL_MORE = {"ok", "okay", "sure", "yes", "yeah", "cool", "nice", "great", "interesting", "hmm", "wow",
                  "please", "so", "and", "then", "oh", "alright", "well", "can", "you", "could", "go", "on"}
# "tell me more" closing a message that singled a pick out ("#4 sounds good, tell me more"), or alone
TELL_MORE = re.compile(r"\b(?:tell me (?:a (?:bit |little )?)?more|more (?:info|details))(?= *(?:$|[,.!?;]|please\b))")
_POST_VERBS = r"(?:was|is|are|were|look|looks|looked|sound|sounds|sounded|seem|seems|seemed|feels|felt)"
_TURNED_DOWN = r"(?:not so much|not really|not so great|not that great|not great|nah|meh)"  # "2 not so much"
POST_ROLES: list[tuple[Role, re.Pattern[str]]] = [
    ("disliked", re.compile(
        rf"^{_POST_VERBS}(?: (?:really|so|very|pretty|quite|super|kind of|kinda))? "
        r"(?:boring|bad|terrible|awful|dull|meh|stupid|lame|horrible|overrated|not for me)\b|^(?:sucked|sucks)\b"
        rf"|^{_TURNED_DOWN}\b"
        # "#2 is too cheesy", "the first one is too long": only the verb is the role's; the words
        # after "too" are still read (a mood to steer away from, a running time the catalog lacks)
        rf"|^(?P<use>{_POST_VERBS})(?= (?:way |far |a bit |a little |just |much )?too (?!good\b|great\b|much fun\b)\w)")),
    ("liked", re.compile(
        rf"^{_POST_VERBS}(?: (?:really|so|very|pretty|quite|super))? "
        r"(?:great|good|awesome|perfect|amazing|nice|interesting|fun|excellent|cool|brilliant|fantastic|lovely)\b"
        r"|^(?:rocks|rocked|was my favou?rite)\b")),
    ("rejected", re.compile(r"^(?:i ve seen|i have seen|is out|please no|no thanks|not for me|already seen)\b")),
]
# A named span of a numeric facet next to the window asked for ("the year before" after "1994"
# is 1993; "the next decade" after "the 90s" is the 2000s); spans come from the lexicon
SPAN_BEFORE = ("the {} before", "a {} before", "one {} before", "the {} earlier", "a {} earlier", "one {} earlier",
               "the previous {}", "previous {}", "the {} prior", "the preceding {}")
SPAN_AFTER = ("the {} after", "a {} after", "one {} after", "the {} later", "a {} later", "one {} later",
              "the next {}", "the following {}", "following {}")
# A title's year as a bound ("a sci-fi movie that came out after Star Wars", "older than Titanic")
TITLE_BOUND_CUES = [("before", -1), ("earlier than", -1), ("older than", -1), ("prior to", -1),
                    ("after", 1), ("later than", 1), ("newer than", 1), ("more recent than", 1)]
# ... and around it, by how many years either side: "from the same year as Titanic", "around the same time as Heat"
TITLE_NEAR_CUES = [("the same year as", 0), ("same year as", 0), ("around the same time as", 3),
                   ("about the same time as", 3), ("the same time as", 3), ("same time as", 3), ("the same era as", 3),
                   ("same era as", 3)]
# ... or around a pick's or the talked-about film's: "the same year as #2", "the same era as the
# second one", "as it"; "from the same year", "from that year" (`RuleParser._pointed_bounds`)
_NEAR_KINDS = r"(?P<kind>year|era|time|time period|period)"
POINTED_NEAR = (
    re.compile(rf"\b(?:the )?same {_NEAR_KINDS} as (?:# ?(?P<n>\d{{1,2}})|(?:number|no \.) (?P<n2>\d{{1,2}})"
               rf"|(?:the )?(?P<w>{_ORDW}) ?{REF_NOUNS}?|(?P<it>it|that one|that movie|that film|that|this one|this))(?![\w'])"),
    re.compile(rf"\b(?:from|in|of|around|released in|made in|came out in) (?:around )?(?:the same|that) {_NEAR_KINDS}\b"
               r"(?! as\b)"),
)
# Mood comparatives that do not end in -ier ("funnier", "scarier" do): they add to what was asked
COMPARATIVES = {"lighter", "sadder", "darker", "grittier", "grimmer"}
# "We loved Fargo, what else would we like?": like what the message liked (not "what else?": more)
WHAT_ELSE_LIKE = (r"what else (?:would|might|will|could|should|do you think) (?:i|we|she|he|they)(?: would| might)? "
                  r"(?:like|love|enjoy|watch)\b")
# "anything similar?", "similar ones": no title or number after them (`RuleParser._bare_similar`)
BARE_SIMILAR = re.compile(
    r"\b(?:anything|something|any|some|more|other|others) (?:else )?similar\b(?! (?:to|as|in)\b)"
    r"|\bsimilar (?:ones|movies|films|books|titles|stuff|picks|things)\b(?! (?:to|as)\b)"
    rf"|\b{WHAT_ELSE_LIKE}")
# "why no horror?", "how come there's nothing from the 80s?", "why didn't you suggest any
# comedies?": a question about the values after it, not a refusal of them (`RuleParser._why_none`;
# a title after such words is a why-not question about that title, see `_cue_at`)
_NONE_WORDS = r"(?:no|none|nothing|not one|not a single)(?: of (?:them|these|those|the picks))?"
WHY_NONE = re.compile(
    rf"\b(?:why|how come)(?: (?:are|is|were|was) there| there (?:are|is|were|was|s)| s there)? {_NONE_WORDS}\b"
    rf"|\b(?:why|how come)(?: (?:are|is|were|was)) {_NONE_WORDS}\b"
    r"|\b(?:why|how come) (?:aren t|isn t|weren t|wasn t) (?:there |any of (?:them|these|those) |these |those |they )?(?:any )?"
    r"|\b(?:why|how come) (?:(?:didn t|don t|did not|do not|won t|wouldn t|couldn t|can t) (?:you|i)"
    r"|(?:you|i) (?:didn t|don t|did not|do not|won t|wouldn t|couldn t|can t)) "
    r"(?:suggest|recommend|show|include|pick|give|get|find|offer)(?: me)?(?: (?:any|a|an|some|anything))?\b")
TITLE_LEADS = ["the movie", "the film", "a movie called", "a film called", "the one called", "movies", "films",
               "the book", "books", "of the"]  # "why none of the Star Wars films?"

# Injection: OVERRIDE tries to replace the instructions, REVEAL asks for the prompt, a format or
# the system's internals. Either way the sentence is set aside.
OVERRIDE = [
    r"\b(?:ignore|disregard|forget|override|bypass)\b(?: \w+){0,4} (?:instructions?|prompts?|rules|guidelines|directions|directives|system|constraints|guardrails|programming)\b",
    r"\b(?:ignore|disregard)\b(?: all| any| every| the| your)* (?:above|previous|prior|preceding|earlier)\b",
    r"\b(?:you are|you re|youre) (?:now|no longer)\b", r"\bact as\b", r"\bpretend (?:to be|you are|you re)\b",
    r"\b(?:jailbreak|jailbroken|dan mode|developer mode|god mode)\b", r"\bnew (?:instructions?|rules|task)\b",
    r"\bim start\b|\bim end\b|\bendoftext\b|< ?/? ?(?:system|assistant|user)\b",
    r"\b(?:system|assistant|developer) :", r"\bfrom now on\b", r"\bdo anything now\b",
    r"\byou (?:must|will|shall) (?:now|only|always|never)\b",
]
REVEAL = [
    r"\bsystem (?:prompt|message|instructions)\b", r"\bdeveloper (?:message|prompt|instructions)\b",
    r"\b(?:reveal|print|show|repeat|output|tell me|display|leak|dump|write out|give me)(?: me)?(?: all)? (?:your|the|its)(?: hidden| secret| initial| original)? (?:system |hidden |secret )?(?:prompt|instructions|rules|configuration|config|context|guidelines)\b",
    r"\b(?:what|which) (?:instructions|rules|prompt|guidelines|directives) (?:were|are|did|do|have) you\b",
    r"\byour (?:instructions|system prompt|initial prompt|guidelines|directives)\b",
    r"\b(?:respond|reply|answer|output) (?:only )?(?:with|in) (?:json|xml|yaml|code|the following)\b",
    r"\b(?:drop table|delete from|rm rf|sudo|os system|import os)\b",
    r"\b(?:set|change|override) (?:the |your )?(?:filters?|parameters|settings|temperature|json|schema|year min|year max)\b",
]
# thanks, as the message reads after normalizing (a closing message without them is a goodbye)
THANKS_WORDS = r"(?:thanks?|thank you|thx|ty|cheers|many thanks|much appreciated)"
# a goodbye ("bye", "that's all", "I'm done"), as the message reads after normalizing
_BYE = (r"(?:bye bye|bye|goodbye|see you|see ya|that s all|that s it|that will do|that ll do|i m done|i m good|all set"
        r"|that is all|that is it|i am done|good night|goodnight)")
ACT_PATTERNS: dict[str, list[str]] = {
    "reset": [
        r"\bstart(?:ing)? (?:over|again|fresh|afresh|anew|from scratch)\b", r"\bfrom scratch\b",
        r"\breset\b(?: everything| all| the filters| filters)?", r"\bnew search\b",
        r"\bclear (?:all|everything|the filters|filters|my filters|it all)\b",
        r"\bforget (?:all of |about )?(?:that|this|everything|it all|what i said|all that|my preferences|all of it)\b",
        r"\bnever ?mind (?:everything|all that|all of that|all of it)\b", r"\bbegin again\b",
        r"\bfresh start\b", r"\bdifferent search\b",
    ],
    "undo": [r"\bundo(?: that| the last| it)?\b", r"\bscratch that\b", r"\btake that back\b",
             r"\bcancel that\b", r"\brevert\b", r"\bgo back to (?:what i had|before|the previous)\b",
             r"^(?:(?:ok|okay|no|nope|hmm|please)(?: [,.!])* )?go back(?: one step| a step)?(?: please)?(?: [.!?])*$"],
    "show_seen": [
        r"\bshow (?:me )?(?:them|those|these|it|the (?:same|first|previous|earlier|old) ones?) again\b",
        r"\b(?:even|including|include) (?:if |ones |the ones |movies |films )?(?:i ve |i have |already |you )?(?:seen|shown|watched|showed)(?: already| before)?\b",
        r"\brepeat (?:them|those|that|the list)\b", r"\bthe same ones? again\b", r"\bagain please\b",
        r"\bwhat were they again\b",
    ],
    # "I'll take #2", "let's go with the third one", "#2 it is": the person chose that pick (liked,
    # and answered about: no new list)
    "choose": [
        r"\b(?:i ll|i will|i m going to|i m gonna|let s|lets|i m going with|going with|i)"
        r" (?:take|go with|watch|pick|choose)\b(?= (?:# ?\d|number \d|the \w+ one\b|that one\b|this one\b))",
        r"\b(?:i ll|i will|i) (?:take|pick|choose)\b(?= \d{1,2} ?(?:$|[.!,?]))",  # "I pick 2", not "I'll take 2 comedies"
        # "I'll watch Fargo", "ok, let's go with Heat": a message opening with the choice (one title)
        r"^(?:(?:ok|okay|great|cool|perfect|nice|alright|then)(?: [,.!])* )*(?:i ll|i will|let s|lets) (?:take|go with|watch)\b",
        r"(?<=\d )it is\b|(?<=one )it is\b",
    ],
    # "swap #3 for something else", "replace the second one": those picks replaced, the rest kept
    # (the verb is the refusing cue of the references after it; only the tail is used up)
    "swap": [
        r"\b(?:swap|replace|switch|exchange|substitute)(?: out)?\b(?=.*(?:#|\bnumber \d|\b\d{1,2}\b|\b(?:first|second|third"
        r"|fourth|fifth|sixth|seventh|eighth|ninth|tenth|last) (?:one|pick|movie|film|book)\b)|(?: out)? (?:it|that|this)\b)"
        r"(?:.*?\b(?P<tail>(?:for|with) (?:something|anything) else|(?:for|with) (?:another|a different)"
        r"(?: one| movie| film| pick| book)?))?",
    ],
    "something_else": [
        # "none of those appeal", "these don't interest me", "nothing there grabs me": the list refused
        r"\b(?:none|neither) of (?:these|those|them)(?: really| quite| just)? (?:appeal|appeals|grab|grabs|interest|interests"
        r"|work|works|do it|does it|excite|excites)(?: (?:to|for))?(?: me| us)?\b",
        r"\b(?:these|those|they|them)(?: ones)?(?: really| just)? (?:don t|do not|didn t|did not) (?:really |quite )?"
        r"(?:appeal|interest|grab|work|do it|excite)(?: (?:to|for))?(?: me| us)?\b",
        r"\bnothing (?:here|there|in (?:that|this) list)(?: really| quite)? (?:appeals|grabs|interests|excites|works)"
        r"(?: (?:to|for))?(?: me| us)?\b",
        r"\bsomething (?:else|different)\b", r"\banything else\b",
        r"\bother (?:ones|options|suggestions|picks|movies|films|titles|choices|ideas|recommendations|books)\b",
        r"\bdifferent (?:ones|options|suggestions|picks|movies|films|titles|choices|ideas|recommendations|books)\b",
        r"\bnone of (?:these|those|them|the above|that)\b", r"\bnot (?:these|those)(?: ones)?\b",
        # "neither of those", "neither, I want a comedy" (not "neither horror nor thriller")
        r"\bneither (?:of (?:these|those|them|the two|the above)|one)\b", r"^(?:(?:nah|no|hmm|um) )?neither(?= [.,;!?]| *$)",
        r"\b(?:i ve |i have )?(?:seen|watched) (?:all of )?(?:these|those|them)(?: all| already)?\b",
        r"\bsomething new\b", r"\bothers\b", r"\bnot what i (?:want|wanted|meant|m looking for)\b",
        r"\b(?:i )?(?:hated|disliked|didn t like|don t like|did not like|do not like|can t stand) (?:the (?:last )?list"
        r"|that list|this list|those|these|them(?: all)?|any of (?:them|these|those|the above))\b",
        r"\bsomething completely different\b",
    ],
    "show_more": [
        r"\bshow (?:me )?more\b(?! like)(?! of)", r"\bmore (?:please|results|options|suggestions|picks|titles|ideas|recommendations)\b",
        r"\bmore of (?:these|those|them|the same)\b", r"\bnext (?:page|ones|few|batch|results|set)\b",
        r"^next\b", r"\bkeep (?:going|them coming)\b", rf"\b(?!{WHAT_ELSE_LIKE})what else\b", r"\bgive me more\b", r"\bany more\b",
        r"\bmore like (?:these|those|them)\b", r"\bsome more\b", r"^more\b(?! like)(?! [a-z]{3,})",
    ],
    "describe": [r"\btell me (?:more )?about\b", r"\bmore about\b", r"\binfo on\b", r"\bdetails (?:on|about)\b"],
    # a question about the list just shown, not a new request
    "best_of_shown": [
        r"\bwhich(?: (?:(?:one|ones)(?: of (?:these|those|them))?|of (?:these|those|them|the (?:\w+ )?(?:ones|picks|movies|films|books)))(?: \w+)?)?"
        r" (?:is|s|are|re|was|would be) (?:the )?(?:best|better|greatest|top|highest rated|best rated|most popular)\b",
        r"\bwhat(?: s| is) the best (?:one|pick|of (?:these|those|them|the (?:lot|bunch|list)))\b",
        r"\bwhich (?:one |of (?:these|those|them) )?(?:should|would) (?:i|you) (?:watch|read|pick|choose|start with)\b",
        # "top 3 of those", "the best two of them": the best of the list, that many
        r"\b(?:the )?(?:top|best) (?:\d{1,2}|two|three|four|five|six|seven|eight|nine|ten) of (?:these|those|them|the list)\b",
        r"\bwhich (?:one|of (?:these|those|them)) do you recommend\b",
        # "which one has the best reviews?", "which is rated highest?"
        r"\bwhich(?: (?:one|ones|of (?:these|those|them)))? (?:has|had|got|gets) (?:the )?(?:best|highest|top|most)"
        r" (?:reviews|ratings|rating|score|scores)\b",
        r"\bwhich(?: (?:one|of (?:these|those|them)))? (?:is|s|was) (?:rated|reviewed) (?:the )?(?:highest|best|most)\b",
        # "the best one?", "and your top pick?" (the whole message)
        r"^(?:(?:and|so|ok|okay|but|then) )*(?:the|your) (?:best|top|favou?rite) (?:one|pick)"
        r"(?: of (?:these|those|them|the (?:lot|bunch|list)))?(?: [?.!])*$",
    ],
    "why_shown": [
        r"^(?:so |but |and |ok |okay )?why (?:these|those|them|this list|that list|these ones|those ones|these picks|those picks)\b",
        r"\bwhy (?:did|do|would) you (?:pick|choose|suggest|recommend|show|give|include)(?: me)? (?:these|those|them|this list"
        r"|that list|all (?:these|those|of them|of these|of those))\b",
        r"\bhow did you (?:pick|choose|come up with|decide on|rank|order|sort) (?:these|those|them|this list|that list)\b",
        # "can you explain why you picked these?", "why were these chosen?"
        r"\bwhy (?:you )?(?:picked|chose|chosen|suggested|recommended|showed|included|gave me) (?:these|those|them|this list"
        r"|that list)\b",
        r"\bwhy (?:were|are) (?:these|those|they)(?: ones| picks)? (?:picked|chosen|suggested|recommended|shown|included)\b",
        r"\bexplain (?:these|those|this list|that list|the list|your picks|the picks)\b",
    ],
    "worst_of_shown": [
        r"\bwhich(?: (?:(?:one|ones)(?: of (?:these|those|them))?|of (?:these|those|them|the (?:\w+ )?(?:ones|picks|movies|films|books)))(?: \w+)?)?"
        r" (?:is|s|are|re|was|would be) (?:the )?(?:worst|weakest|lowest rated|worst rated|least popular)\b",
        r"\bwhat(?: s| is) the worst (?:one|pick|of (?:these|those|them|the (?:lot|bunch|list)))\b",
    ],
    # what convrec knows of the person ("show me my favourites", "what have I rated?")
    "my_history": [
        r"\b(?:show|list|tell|give)(?: me)? (?:all )?my (?:favou?rites|favou?rite (?:movies|films|books)|ratings|history|likes)\b",
        r"\bwhat (?:are|were) my (?:favou?rites|favou?rite (?:movies|films|books)|ratings)\b",
        r"\bwhat (?:have|did) i (?:rate|rated|like|liked|watch|watched|see|seen|read)(?: so far| before| here)?(?: [?.!])*$",
        r"\bwhat do you know about (?:me|my taste|my tastes)\b", r"^my (?:favou?rites|ratings|history)(?: [?.!])*$",
    ],
    # the whole message greets ("hi, a comedy please" is a request)
    "greet": [r"^(?:hi|hello|hey|hiya|howdy|yo|greetings|good (?:morning|afternoon|evening)|hi there|hello there|hey there)"
              r"(?: (?:there|convrec|bot|again|everyone))?(?: [,.!])*$"],
    # the whole message asks about convrec or its catalog ("what can you do?", "are you an AI?")
    "help": [r"^(?:(?:hi|hello|hey|ok|okay|so)(?: [,.!])* )?(?:help(?: me)?|what can (?:you|i) do(?: here)?|what do you do"
             r"|how (?:does|do) (?:this|it|you) work|how do i use (?:this|you|it)|what are you|who are you"
             r"|are you (?:an? )?(?:ai|bot|robot|human|person|real|chatbot|llm|machine)"
             r"|what (?:movies|films|books|items|titles|things|kind of (?:movies|films|books|items)) do you (?:have|know)"
             r"|how many (?:movies|films|books|items|titles) (?:do you have|are there|do you know|can you recommend)"
             r"|what s in (?:the|this|your) catalog(?:ue)?|what catalog(?:ue)? is this)(?: [?.!])*$"],
    # the whole message thanks or says goodbye ("thanks, now something funnier" is a request)
    "thanks": [
        r"^(?:(?:ok|okay|great|perfect|awesome|cool|nice|lovely|brilliant|excellent|wonderful)(?: [,.!])* )?"
        rf"{THANKS_WORDS}"
        r"(?: (?:a lot|so much|very much|again|a bunch|for (?:the|your|these|those|all the) \w+))?"
        r"(?: [,.!])*(?: (?:bye|goodbye|that s all|see you))?(?: [,.!])*$",
        rf"^(?:(?:ok|okay|great|perfect) (?:[,.!] )*)?{_BYE}(?:(?: [,.!])* (?:{_BYE}|for now|then|thanks|thank you))*"
        r"(?: [,.!])*$",
    ],
    # "compare #1 and #2", "#1 vs #2", "the difference between Alien and Aliens", "which is better,
    # #2 or #4?", "should I watch #1 or #3?" (the agent compares when two or more items are named;
    # the cue words stay for the references after them)
    "compare": [
        r"\bcompar(?:e|ed|ing)\b", r"\b(?:vs|versus)\b", r"\bdifference between\b",
        r"\b(?:which|what) (?:one )?(?:is|s|would be) better\b(?= [,.:]? ?(?:# ?\d|[a-z]))",
        # "is Heat better than Casino?", "would #2 be better than #4?" (a question; "something better
        # than Heat" asks for picks)
        r"^(?:(?:so|ok|okay|and|but) )?(?:is|was|are|would|s) (?:(?!(?:there|anything|something|any|it|that|this)\b)\S+ ){1,12}?"
        r"(?:be )?(?:better|worse) than\b",
        r"\bshould i (?:watch|see|read|pick|choose|go (?:for|with))\b(?=.* or )",
    ],
    # "either is fine", "one or the other", "either genre": after "westerns and war films" (both at
    # once) the values may be any of them
    "either": [
        r"\beither (?:one |genre |of (?:them|those|these|the (?:two|genres)) )?(?:is|s|would be|will do|works)"
        r"(?: (?:fine|ok|okay|good|great|alright|all right))?\b",
        r"^(?:(?:ok|okay|hmm|well|then) )*either(?: (?:one|genre|of them|of those|works|will do))?(?: [.,!?])*$",
        r"\b(?:one|either) or the other\b", r"\bdoesn t (?:have|need) to be both\b",
        r"\b(?:only )?one of (?:those|these|them|the) (?:genres|two)? ?(?:is|would be) (?:fine|ok|okay|enough|good)\b",
        r"\bnot (?:necessarily )?both\b",
        # "films from 1994" → "and 1995?" → "both years": what the last change replaced comes back
        r"\bboth (?:years|decades|eras|genres|of (?:those|these|them) (?:years|decades|genres))\b",
        r"\b(?:either|any) of (?:those|these|the two) (?:years|decades|eras|genres)\b",
    ],
    # after "help" (which answers "how many movies do you have?" of the whole catalog): "how many of
    # those do you have?", "how many are there?", "how many westerns from the 60s are there?" (only
    # the cue is used up: the words between are the wishes counted)
    "count_matches": [
        r"^(?:(?:and|so|ok|okay) )?how many(?: (?:are|is) (?:there|left|that)| do you have| have you got| now| in total"
        r"| in all| altogether| of them)*(?: now)?(?: [?.!])*$",
        r"\bhow many(?: of)? (?:those|these|them|such|like (?:that|this|these|those))"
        r"(?: (?:do|does|did) (?:you|it|the catalog|this catalog|your catalog) (?:have|know|got)| are there"
        r"| (?:are|is) (?:in )?there| exist| have you got)?\b",
        r"\bhow many\b(?=(?: [\w-]+){1,7} (?:do you have|are there|have you got|do you know|you got|exist"
        r"|does (?:the|this|your) catalog(?:ue)? have|are in (?:the|this|your) catalog(?:ue)?)\b)",
    ],
}
# what splits the titles of a comparison ("which is better, Heat or Casino?") and the words before one
COMPARE_SEPARATORS = {"or", "and", "vs", "versus", ",", "?", ".", "!", ";", ":", "between", "to", "with", "than"}
COMPARE_FILLERS = {"which", "one", "is", "s", "would", "be", "better", "best", "should", "i", "we", "watch", "see",
                   "pick", "choose", "go", "for", "compare", "compared", "comparing", "what", "the", "difference",
                   "how", "does", "do", "it", "they", "either", "first", "rather", "you", "think", "worse", "was", "are",
                   "so", "ok", "okay", "but", "tonight", "now"}
# "I also like Alien" likes it (a role cue); "I'd also like a comedy" adds to what was asked
ADDITIVE = [r"(?<!\bi )\balso\b|\balso\b(?! (?:like|love|liked|loved|enjoyed)\b)", r"\bas well\b", r"\bin addition\b", r"\badditionally\b", r"\badd(?:ing)?\b",
            r"\bthrow in\b", r"\bmixed with\b", r"\bmix (?:in|it up with)\b", r"\btoo(?= *(?:$|[,.!?;]|please|maybe))",
            r"\bwith (?:a bit of|some|a touch of|a dash of|elements of|a little)\b", r"\bplus\b",
            r"\bon top of that\b", r"\bbit of\b",
            # narrowing what is already on the table: "any comedies in there?", "which of those are funny"
            r"\bin (?:there|those|these|that list|this list)\b", r"\bamong (?:them|those|these)\b",
            r"\bof (?:those|these|them)\b",
            # "any with a twist ending?", "any that are funny?" (after a list): among them
            r"^(?:(?:are|is) there )?any (?:ones? |of them |of those |of these )?(?:with|that|which|where)\b",
            # a reply that opens with "with": "a movie about the ocean" → "with sharks" wants both
            r"^(?:(?:and|but|ok|okay|now|so|hmm|maybe|ideally|preferably)[ ,]+)*with\b"]
ALL_TIME = re.compile(r"\ball ?-?time(?= favou?rites?\b)")
# "more like the ones I rated highly", "based on my ratings": the person's history, which the
# ranker goes by for a known person already (the words are no search)
MY_LIKES = re.compile(r"\b(?:the ones?|those|the (?:movies|films)|movies|films|what|ones) i (?:rated|scored|gave)"
                      r"(?: (?:highly|high|highest|well|best|5|five|the most|top marks))?\b"
                      r"|\b(?:based on|from|going by|according to) (?:my|what i) (?:ratings|history|taste|tastes|rated|liked|likes)\b")
# "people who liked Fargo also liked what?": the closing words of a "similar" cue (see ROLE_CUES)
ALSO_LIKED = re.compile(r"(?<=\w )(?:would )?also (?:liked?|loved?|enjoyed?|watched|watch)\b(?= *(?:$|[?.!]| what\b))"
                        rf"|^what (?:did|do|else did|else do)(?= (?:{'|'.join(LIKERS)}) who\b)")
# A capitalized name after a comparison, a like or a dislike ("something like The Matrix", "I loved Amelie"):
# if no catalog title matched there, the person named something the catalog does not have.
NAMED_AFTER_CUE = re.compile(
    r"(?<!\bd )(?<!\bwould )(?<!\b[Ii]'d )(?<!\b[Ii]’d )"  # "I'd like", "would like": wanting, not comparing
    r"\b(?P<cue>(?i:like|similar to|such as|reminds? me of|in the vein of|as good as|loved|liked|enjoyed|adored|hated|disliked"
    r"|favou?rite (?:movie |film |book )?(?:is|was)))\s+"
    r"(?P<name>[A-Z][\w'’:!.-]*(?:\s+(?:of|the|and|or|in|on|at|to|a|an|&|[A-Z0-9][\w'’:!.-]*))*)"
)
NAME_TAIL = {"of", "the", "and", "or", "in", "on", "at", "to", "a", "an", "&"}
# "something with Star Wars vibes", "a Fargo-style crime film", "Alien-esque": a title before words
# that compare with it
TITLE_BEFORE_VIBE = re.compile(
    r"(?P<name>\b[A-Z0-9][\w'’:!.]*(?:\s+(?:of|the|and|in|on|at|to|a|an|&|[A-Z0-9][\w'’:!.]*))*)"
    r"(?:\s+|\s*-\s*)(?i:vibes?|feel|feeling|energy|style|esque|type|kind)\b")
NAMED_CUE_ROLE = {"loved": "liked", "liked": "liked", "enjoyed": "liked", "adored": "liked", "hated": "disliked",
                  "disliked": "disliked"}  # any other cue compares: "similar"; "my favourite film is" likes
# A person's name after "by", "starring", "featuring", "directed by" ("something by Tarantino").
_NAME = r"[A-Z][\w’'-]*[a-z][\w’'-]*"  # a capitalized word (not an acronym such as "TV")
PERSON_AFTER_CUE = re.compile(
    r"\b(?i:by|starring|featuring|directed by|written by|with actors?|with actress)\s+"
    rf"(?P<name>{_NAME}(?:\s+{_NAME}){{0,3}})")
# "a movie with Tom Hanks", "with Jim Carrey in it": after a bare "with", only a full name that
# ends the phrase ("with New York flair" is no person)
PERSON_AFTER_WITH = re.compile(
    rf"\b(?i:with)\s+(?P<name>{_NAME}(?:\s+{_NAME}){{1,2}})"
    r"(?=\s*(?:$|[.,;:!?)]|(?i:in it|and|or|please|playing|as)\b))")
# "not Tarantino though", "no Spielberg please": a refused capitalized name that the message ends on
# (or a filler word after it); titles and facet values were read before and are not names here
PERSON_REFUSED = re.compile(
    rf"\b(?i:not|no|except|without|anything but|but not)\s+(?P<name>{_NAME}(?:\s+{_NAME}){{0,2}})"
    r"(?=\s*(?:$|[.,;:!?)]|(?i:though|please|thanks|this time|again|any ?more|films?|movies?|stuff)\b))")
# "he hates John Wayne", "my wife loves Meg Ryan": a full name (two or three capitalized words)
# after a feeling, ending the phrase; a title there was read before and is no name
PERSON_AFTER_FEELING = re.compile(
    r"\b(?i:hates?|hated|loves?|loved|likes?|liked|adores?|dislikes?|can'?t stand|cannot stand|(?:a |big )?fan of"
    r"|into|obsessed with|crazy about|sick of|tired of)\s+"
    rf"(?P<name>{_NAME}(?:\s+{_NAME}){{1,2}})"
    r"(?=\s*(?:$|[.,;:!?)]|(?i:and|or|but|though|so|films?|movies?|stuff|a lot|too)\b|(?P<after>[a-z]+)\b))")
MORE_FROM_THEM = r"\b(?:more|anything else|something else|other (?:films|movies)) (?:from|by) (?:him|her)\b"
# "what do you have from Hitchcock?", "anything from Kubrick": a name the question ends on
PERSON_AFTER_FROM = re.compile(
    rf"\b(?i:anything|something|stuff|movies?|films?|have|got|else) (?i:from)\s+(?P<name>{_NAME}(?:\s+{_NAME}){{0,2}})"
    r"(?=\s*(?:$|[.,;:!?)]|(?i:please|then)\b))")
# "a Spielberg movie", "some Hitchcock films", "Kubrick's films": a name before an item noun
# (checked against the lexicon), after a determiner or with a possessive
PERSON_BEFORE_NOUN = re.compile(
    rf"(?:\b(?i:a|an|some|any|more|other|the)\s+(?P<name>{_NAME}(?:\s+{_NAME})?)(?:['’]s)?"
    rf"|\b(?P<owner>{_NAME}(?:\s+{_NAME})?)['’]s)\s+(?P<noun>[a-z]+)\b")
# A message opening with a two-word name (its second capital shows a name, whatever the first
# word's): "Jim Carrey movies", "Steven Spielberg films please", "Tom Hanks"
PERSON_OPENING = re.compile(
    rf"^\s*(?:(?i:any|some|more|good|great|the best|best)\s+)?(?P<name>{_NAME}\s+{_NAME})(?:['’]s)?"
    rf"(?:\s+(?P<noun>[a-z]+)\b|\s*[?.!]*\s*$)")
NOT_PEOPLE = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "tonight", "tomorrow",
              "christmas", "halloween", "easter", "january", "february", "march", "april", "may", "june", "july",
              "august", "september", "october", "november", "december", "the", "a", "an", "i",
              # places: "anything from France?" asks for no person
              "france", "italy", "germany", "spain", "japan", "china", "india", "korea", "russia", "england",
              "britain", "ireland", "sweden", "denmark", "mexico", "iran", "europe", "asia", "africa", "america",
              "hollywood", "bollywood", "canada", "australia", "hong", "new", "los", "san", "las", "north", "south",
              "west", "east",
              # praise opening a message: "Best Picture movies" names an award, not a person
              "best", "top", "good", "great", "classic", "old",
              # studios: no person either
              "disney", "pixar", "dreamworks", "miramax", "warner", "universal", "paramount", "netflix"}
# "my 8 year old", "kids aged 6 and 9": ages
AGE_NUMBERS = re.compile(r"\b(?:aged? )?\d{1,2}(?: (?:and|or|to) \d{1,2})?(?= years? olds?\b)"
                         r"|\baged? \d{1,2}(?: (?:and|or|to) \d{1,2})?\b"
                         # "my kids are 5 and 8", "she's 7": only the numbers are the age (`age` group)
                         r"|\b(?:kids|children|son|daughter|boys|girls|nephew|niece|grandkids|he|she|they)"
                         r" (?:are|is|s|re) (?P<age>\d{1,2}(?: (?:and|or|to) \d{1,2})?)\b")
CHILD_AGE = 12  # "my son is 7", "she's 10": a film for a child
# "a Stephen King novel", "some Agatha Christie books": a capitalized name before a kind of item
NAME_BEFORE_NOUN = re.compile(r"(?P<name>\b[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){1,3})(?:['’]s)?\s+(?P<noun>[a-z]+)\b")
# "the director of Fargo", "the actors from Heat", "the writer behind Se7en"; "the same … as"
RELATION_LINKS = {"of", "from", "in", "behind", "on", "to"}  # "to": "a sequel to Batman"
RELATION_ORDINAL = re.compile(
    r"(?:# ?(?P<n>\d{1,2})\b|(?:number|no \.?) (?P<n2>\d{1,2})\b"
    rf"|the (?P<w>{_ORDW})(?: (?:one|movie|film|pick))?\b)")
RELATION_LEADS = {"same", "the", "by", "from", "with", "featuring", "starring"}
RELATION_PRONOUNS = {"its", "his", "her", "their", "that"}
TITLE_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "mt"}
# A name ends where its sentence does ("I loved Toy Story. Something for the kids"), except after
# an abbreviation or initials ("Mr. Holland's Opus", "L.A. Confidential", "E.T. the Extra-Terrestrial").
_SENTENCE_END = re.compile(r"(?<![A-Z])(?<!\bMr)(?<!\bMrs)(?<!\bMs)(?<!\bDr)(?<!\bSt)(?<!\bJr)(?<!\bSr)(?<!\bvs)[.!?]\s+")


def _first_sentence(name: str) -> str:
    return _SENTENCE_END.split(name, maxsplit=1)[0]
LIST_SEPARATORS = {"and", "or", ",", "&"}
# "like Alien meets Die Hard", "Heat plus Fargo": a blend of titles reads on like a list
TITLE_BLENDS = LIST_SEPARATORS | {"meets", "plus", "crossed", "mixed", "x", "vs"}
REPLACE = [r"\bactually\b", r"\binstead\b(?! of)", r"\brather\b(?! than)", r"\bmake it\b", r"\bchange (?:it|that) to\b",
           r"\bswitch to\b", r"\bhow about\b", r"\bwhat about\b", r"\bchanged my mind\b", r"\bno wait\b",
           r"\bon second thought\b", r"\bi meant\b"]

# --- numbers ---------------------------------------------------------------------------------------
DECADE_WORDS = {"twenties": 2, "thirties": 3, "forties": 4, "fifties": 5, "sixties": 6, "seventies": 7,
                "eighties": 8, "nineties": 9}
# A decade: "90s", "1990s", "90 s" (from "90's"), "' 90s", "the nineties", "early 80s", and in a few
# languages "annees 80", "anos 80", "de los 90", "aus den 90ern", "jahre".
# A century: "the 1800s" (but "the 2000s" is a decade), "the 19th century", "early 20th century".
_DEC = (r"(?:(?:the )?(?:(?P<{p}per>early|mid|late) )?(?:the )?(?:' )?(?:\b(?P<{p}cent>1\d|20)?(?P<{p}dig>\d)0 ?s\b"
        r"|\b(?P<{p}ord>[1-9]|1\d|2[01]) ?(?:st|nd|rd|th)[ -]century\b"
        r"|(?P<{p}word>twenties|thirties|forties|fifties|sixties|seventies|eighties|nineties)\b"
        r"|(?:annees|anos|anni|decada de|jahre|jaren|de los|den|der) (?:19)?(?P<{p}dig2>\d)0(?:ern?)?\b))")
_YEAR = r"(?P<{p}year>(?:1[89]|20)\d\d)\b(?! ?s\b)"


def _decade_or_year(p: str, group: bool = True) -> str:
    inner = _DEC.format(p=p) + "|" + _YEAR.format(p=p)
    return "(?:" + inner + ")"


_V1 = _decade_or_year("a")
_V2 = _decade_or_year("b")
_B = r"(?:the )?(?:" + _V2 + r"|(?P<bshort>\d\d)\b(?! ?s\b))"
NUM_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("span", re.compile(r"\b(?:between|from|anywhere from)(?: the)? " + _V1 + r" (?:and|to|through|thru|till|until|-) " + _B)),
    ("span", re.compile(_V1 + r" ?(?:-|to|through|thru|until|till) ?" + _B)),
    ("span", re.compile(_V1 + r" ?(?:or|and|/|&|,) ?(?:the )?" + _V2)),
    ("high_excl", re.compile(r"\b(?:before|earlier than|older than|prior to|pre)(?: the)? " + _V1)),
    ("high_incl", re.compile(r"\b(?:up to|until|till|through|thru|no later than|not after|at the latest|at most)(?: the)? " + _V1)),
    ("low_excl", re.compile(r"\b(?:after|later than|newer than|post|more recent than|younger than)(?: the)? " + _V1)),
    ("low_incl", re.compile(r"\b(?:since|starting(?: in| from| with)?|as of|no earlier than|not before|from|at least)(?: the)? " + _V1 + r" ?(?:on|onwards|onward|and later|or later|and newer|or newer|and up|\+|forward)(?!\w)")),  # not "only"
    ("low_incl", re.compile(r"\b(?:since|starting(?: in| from| with)?|as of|no earlier than|not before)(?: the)? " + _V1)),
    ("low_incl", re.compile(_V1 + r" ?(?:onwards|onward|and later|or later|and newer|or newer|and up|\+|or after|and after|or more recent|forward)(?!\w)")),
    ("high_incl", re.compile(_V1 + r" ?(?:or earlier|and earlier|or before|and before|or older|and older)(?!\w)")),
    ("point", re.compile(r"(?:\b(?:in|from|of|released in|made in|around|circa|ca)(?: the)? )?" + _V1)),
]
# "set in the 60s", "takes place in the 1800s": when a story happens, which no catalog here records;
# the release years stand in for it where the catalog has them (the reply says so)
SETTING_CUE = re.compile(r"\b(?:set|takes? place|taking place|happens?|happening)(?: (?:back|sometime|somewhere))?"
                         r"(?: (?:in|during|around|within))?$")
STORY_SETTINGS = "story settings"
# "the previous year" alone is the year before the window asked for (`SPAN_BEFORE`), not the last one
RELATIVE = re.compile(
    r"\b(?:in |from |over |within )?(?:the )?(?:last|past|previous(?! (?:year|decade)\b)) (?P<n>\d{1,2}|two|three|four|five|six|seven|eight|nine|ten|twenty|couple of|few)? ?(?P<unit>years?|decades?)\b")
# "any year is fine", "the decade doesn't matter": no limit on the year facet
ANY_TIME = re.compile(
    r"\b(?:any|whatever|whichever) (?:year|decade|era|time period|period|release date)s?\b"
    r"|\b(?:the )?(?:year|decade|era|release date|date) (?:doesn t|does not|don t|do not) matter\b"
    r"|\bno matter (?:when|what year|the year)\b|\b(?:from )?any time\b"
    r"|\b(?:drop|forget|remove|ditch|lose|never ?mind|scratch|no need for) (?:about )?(?:the |my |that )?"
    r"(?:years?|decades?|eras?|dates?|year (?:limit|range)|time period)\b")
# "from 10 years ago", "a couple of decades ago": counted back from the catalog's newest year
AGO = re.compile(
    r"\b(?:(?:from|made|released|out) )?(?:about |around |roughly |some )?"
    r"(?P<n>\d{1,2}|a|one|two|three|four|five|six|seven|eight|nine|ten|twenty|thirty|forty|fifty|a couple of|a few) "
    r"(?P<unit>years?|decades?) ago\b")
# "Sort them by year", "oldest first", "in order of popularity": the list shown, in another order
# (group "key": year words, rating words, popularity words, title words; "first" after it)
REORDER = re.compile(
    r"\b(?:sort|order|rank|arrange|list|put|show)(?: (?:them|these|those|it|this|that|the list|the picks|the results))?"
    r"(?: again)? (?:by|in order of|according to) (?:the |their |its )?"
    r"(?P<key>release year|release date|year|years|date|age|rating|ratings|score|popularity|title|titles|name|names"
    r"|oldest|newest|earliest|latest|most recent|most popular)"
    r"(?: (?P<dir>ascending|descending|oldest first|newest first|old to new|new to old|from oldest|from newest))?\b"
    r"|\b(?:the )?(?P<first>oldest|newest|earliest|latest|most recent|best rated|highest rated|top rated|most popular"
    r"|best known|least known|least popular) (?:ones? |films? |movies? |books? )?first\b"
    r"|\b(?:in )?(?P<chrono>chronological|reverse chronological|alphabetical) order\b|\b(?P<abc>alphabetically)\b"
    # "which one is the oldest?", "which of these is the most popular?": that one first
    r"|\bwhich(?: \w+){0,3} (?:is|s|was|are|re) (?:the )?(?P<which>oldest|newest|most recent|latest|earliest|most popular"
    r"|best known|least known|least popular)\b"
    # "show me the list again", "the last list again": as it was
    r"|\b(?:show|give|bring back|repeat)(?: me| us)? (?:the|that|my|your) (?:last |previous |same )?"
    r"(?P<again>list|picks|suggestions|recommendations|results)(?: again| once more)\b"
    r"|\b(?:the )?(?:last|previous) (?P<again2>list|picks|suggestions) again\b"
    # "only the first 3", "just the top five of them": the list's head, as shown
    rf"|\b(?:only|just)(?: (?:show|give|keep|list)(?: me| us)?)? the (?:first|top) (?P<keep>{_NUMW})"
    rf"(?: (?:of (?:them|those|these|the list)|{REF_NOUNS}))*\b(?! (?:of|from|in)\b)"
    rf"|\bthe (?:first|top) (?P<keep2>{_NUMW})(?: {REF_NOUNS})? only\b")
# "the Batman movies", "what about the Indiana Jones films?": a title's whole series (`_title_series`)
TITLE_SERIES = re.compile(
    r"^(?:(?:so|ok|okay|and|hmm) )*(?:(?:what|how) about |(?:show|give|list|recommend)(?: me| us)? (?:all )?)?"
    r"the (?P<title>[a-z0-9][a-z0-9 ]{1,60}?) (?P<noun>movies|films|flicks)(?: please)?(?: [?.!])*$")
# Relation nouns that, right after a title, name the whole series, the title included
WHOLE_SERIES = {"series", "franchise", "saga", "trilogy"}
# ... and those that alone, after a title was talked about, mean its others ("the sequel")
SEQUEL_NOUNS = {"sequel", "sequels", "prequel", "prequels"}
# Relation words that are no noun, and the noun a reply says for them ("Star Wars related": its series)
RELATION_NOUN_AS = {"related": "series", "universe": "series"}
# Words before a lone title that make it no request for more like it ("nothing too heavy")
BARE_TITLE_BREAKS = {"nothing", "not", "no", "without", "never", "none", "less", "too"}
# Where the items are, said in a request: "the best movie in your catalog", "of all you have"
OF_THE_CATALOG = re.compile(
    r"\b(?:in|from|of|on) (?:your|the|this|ur|all (?:your|the)) (?:whole |entire )?"
    r"(?:catalog|catalogue|collection|database|library|selection|system|archive)\b"
    r"|\b(?:that |which |of all )?(?:you (?:have|ve got|got|know of|carry|can find))(?= ?(?:$|[,.!?;]))")
# "a shorter list please", "a longer list": how many, when no number says it
LIST_SIZES = {"shorter": 3, "smaller": 3, "longer": 10, "bigger": 10}
COUNT = re.compile(
    rf"\b(?P<n>{_NUMW}) (?:[a-z]+ ){{0,2}}?{ITEM_WORDS}\b"
    rf"|\b(?:give me|show me|recommend|suggest|list|find me|get me|i want|i need) (?:me )?(?:just |only |about )?(?P<n2>{_NUMW})\b(?! (?:years?|hours?|minutes?|stars?|dollars?|kids|children|people|of us|year)\b)"
    rf"|\btop (?P<n3>{_NUMW})\b"
    rf"|\b(?:just|only) (?P<n4>{_NUMW})(?= ?(?:$|[,.!?;]|please|of (?:them|those|these)\b))"
    rf"|\b(?:a )?(?:{'|'.join(LIST_SIZES)}) list(?: please)?(?: [,.:;])* (?:of |with |just |only )?(?P<n5>{_NUMW})\b"
    # "a drama, 7 please", "I'd like 7", "make it 7", "a comedy, 7": a number after a clause, or
    # closing the message after a comma, not in a list of numbers ("I liked 2, 3" names picks; on
    # its own, "2 please" may take #2)
    rf"|(?<=[,;:.!] )(?P<n6>{_NUMW}) (?:please|pls|would be (?:good|great|nice|fine|enough)|is (?:enough|fine|plenty))\b"
    rf"|\b(?:make it|i d like|i would like|can i (?:have|get)|let s (?:do|see|have)) (?P<n7>{_NUMW})(?= ?(?:$|[,.!?;]|please\b))"
    rf"|(?<![0-9] )[,;:] (?P<n8>{_NUMW})(?= ?[.!]?$)"
    # "3 more", "five more please", "2 more comedies": how many of the next ones
    rf"|\b(?P<n9>{_NUMW}) more\b(?! (?:than|thing|question|request|time)\b)")
# "I've seen 500 movies", "I own over 200 films", "we rated 40 films": the person's viewing, not a
# count of picks (said of themselves: "the highest rated 10 movies" is a count)
SEEN_SO_MANY = re.compile(
    r"\b(?:i|we)(?: ve| have| d| had)?(?: already| probably| just| literally| easily)? (?:seen|watched|rated|reviewed"
    r"|own|saw|collected) (?:over |about |around |like |almost |nearly "
    rf"|more than |at least |probably |already )?(?:\d+|{_NUMW}|a (?:hundred|thousand)|hundreds|thousands|dozens)"
    rf"(?: [a-z]+){{0,2}}? {ITEM_WORDS}\b")
LIST_SIZE = re.compile(rf"\b(?:a )?(?P<size>{'|'.join(LIST_SIZES)}) list\b")
MAX_COUNT = 50  # the longest list one reply gives
# "give me 100 movies", "60 comedies": more than one list gives (50-999, so not a year: "1994 movies")
_OVER = r"[5-9]\d|[1-9]\d\d"
OVER_COUNT = re.compile(rf"(?<![\d.])(?P<n>{_OVER})(?: (?:[a-z]+ ){{0,2}}?{ITEM_WORDS}\b)"
                        rf"|\b(?:give me|show me|list|i want|i need) (?:me )?(?P<n2>{_OVER})(?= ?(?:$|[,.!?;]|please\b))"
                        rf"|(?<=[,;:.!] )(?P<n3>{_OVER}) (?:please|pls)\b")


def _listed_position(m: re.Match[str]) -> int:
    """The list position a match with the groups of `RELATION_ORDINAL` names: "#2", "number 2",
    "the second" (-1: "the last")."""
    n = m.group("n") or m.group("n2") or m.group("w")
    return int(n) if n.isdigit() else ORDINAL_WORDS[n]


def _count_value(raw: str) -> int | None:
    """How many picks a number word or numeral asks for, if it is a count (1 to `MAX_COUNT`)."""
    value = NUMBER_WORDS.get(raw) or (int(raw) if raw.isdigit() else None)
    return value if value is not None and 1 <= value <= MAX_COUNT else None


# Words between a number and a facet value that make it no count ("one of the westerns", "2 or 3 hours of drama").
COUNT_BREAKS = {"of", "or", "and", "to", "than", "more", "from", "in", "hours", "hour", "minutes", "stars", "years"}
AMOUNT_HIGH = r"(?:under|below|less than|cheaper than|at most|up to|max|maximum|no more than|not more than|within|< ?=?|lower than)"
AMOUNT_LOW = r"(?:over|above|more than|at least|min|minimum|no less than|> ?=?|higher than|upwards of)"

# Real words one typo away from a synonym, which must not be read as it ("sense" is not "tense").
NEVER_FUZZY = {"auction", "violet", "mastery", "sense", "prime", "bottle", "comely", "spice", "places", "actor",
               "coward", "comics", "crimea", "horse", "horses", "worse", "mother", "father", "brother", "others",
               "animal", "minute", "musician", "manic", "romans", "roman", "mystic", "comedian", "familiar",
               "similar", "actual", "fiction", "friction", "series", "season", "remake", "rated", "hours",
               "house", "horrid", "thrilled", "thrill", "document", "scarf", "scared", "warm", "ward", "warn",
               "weird", "word", "world", "would", "could", "should", "wonder", "winter", "waster", "master",
               "eastern", "western", "action", "rich", "dance", "dancer", "danced", "singer", "magician",
               "militia", "robber", "cowboy", "tense", "dense", "terse", "alive", "ancient", "alike", "comet"}
# In-word hyphens and apostrophes split words ("sci-fi", "don't", "80's"), but a hyphen between
# digits stays a token ("1985-1990"); words in any script ("科幻电影" stays one token), else single
# punctuation marks.
_IN_WORD = re.compile(r"(?<=[^\W\d_])[-'`´](?=[^\W_])|(?<=[0-9])[-'`´](?=[^\W\d_])|(?<=[0-9])['`´](?=[0-9])")
_WORDS_OR_MARKS = re.compile(r"[^\W_]+|[^\w\s]")
CUE_WORDS = {"like", "similar", "vein", "style", "lines", "reminiscent", "vibe", "akin", "resembling"}


@dataclass
class _Tok:
    text: str
    start: int  # offset in the joined token string
    used: bool = False
    topic: bool = False  # used by a topic phrase ("vampires"): a search word as well

    @property
    def word(self) -> bool:
        return self.text.isalnum()


@dataclass
class _Mention:
    start: int
    end: int  # token indices [start, end)
    kind: Literal["cat", "numphrase", "shift"]
    phrase: Phrase | None = None
    rng: NumericRange | None = None
    num: NumericFacet | None = None
    direction: int = 0
    span: float | None = None  # "the year before": the span next to the window, not a move by its width
    polarity: Polarity = "want"
    soft: bool = False  # a refusal said as "less ..." / "not too ...": a milder one, not none
    text: str = ""


@dataclass
class RuleReading:
    """The rule parser's full reading: the preferences plus the content words it could not explain."""

    prefs: Preferences
    leftover: list[str] = field(default_factory=list)
    text: str = ""


class RuleParser:
    """Deterministic preference parsing for one catalog.

    `titles` maps item id → title (or yields (id, title) pairs); `popularity` (id → count) breaks
    ties between equally good title matches. `lexicon` defaults to the catalog's own
    (`load_lexicon(schema, catalog)`); with neither, the schema's own value names are used.
    """

    def __init__(
        self,
        schema: CatalogSchema,
        titles: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        lexicon: Lexicon | None = None,
        catalog: str | Path | None = None,
        popularity: Mapping[str, float] | None = None,
    ) -> None:
        self.schema = schema
        self.lexicon = lexicon if lexicon is not None else load_lexicon(schema, catalog)
        pairs = list(titles.items()) if isinstance(titles, Mapping) else list(titles)
        self.titles = {str(i): str(t) for i, t in pairs}
        self.popularity = dict(popularity or {})
        self._title_keys: list[str] = []
        self._title_ids: list[str] = []
        self._exact_title: dict[str, list[str]] = {}
        for item_id, title in self.titles.items():
            for key in title_keys(title):
                self._title_keys.append(key)
                self._title_ids.append(item_id)
                self._exact_title.setdefault(key, []).append(item_id)
        self._typo = self.lexicon.typo_candidates()
        # "the funniest comedy", "the scariest film": a superlative of a word the lexicon knows
        self._superlatives = {sup: key[0] for key in self.lexicon.phrases if len(key) == 1
                              for sup in superlatives(key[0]) if (sup,) not in self.lexicon.phrases}
        self._superlative_rx = (re.compile(r"\b(?:" + "|".join(sorted(self._superlatives, key=len, reverse=True))
                                           + r")\b", re.IGNORECASE) if self._superlatives else None)
        self._facet_keys: dict[str, list[str]] = {}
        self._stop = STOPWORDS | self.lexicon.stopwords | self.lexicon.item_nouns
        self._neg_cues = _cue_list(NEGATION_CUES)
        self._allow_cues = _cue_list(ALLOW_CUES)
        self._withdraw_cues = _cue_list(WITHDRAW_CUES)
        self._role_cues = sorted(((r, words(c)) for r, cs in ROLE_CUES.items() for c in cs),
                                 key=lambda rc: len(rc[1]), reverse=True)
        self._title_leads = _cue_list(TITLE_LEADS)
        # cue words carry no search meaning ("hate", "except", "skip", "don t"): never query text
        self._cue_tokens = {w for cues in (NEGATION_CUES, ALLOW_CUES, WITHDRAW_CUES, *ROLE_CUES.values())
                            for c in cues for w in words(c)} | CUE_WORDS
        # (facet, direction, span): "older" moves the window; "the year before" names a span
        self._shift_phrases: dict[tuple[str, ...], tuple[NumericFacet, int, float | None]] = {}
        for num in self.lexicon.numeric.values():
            for p in num.earlier:
                self._shift_phrases.setdefault(p, (num, -1, None))
            for p in num.later:
                self._shift_phrases.setdefault(p, (num, 1, None))
            for name, size in num.spans.items():
                for direction, forms in ((-1, SPAN_BEFORE), (1, SPAN_AFTER)):
                    for form in forms:
                        self._shift_phrases.setdefault(words(form.format(name)), (num, direction, size))
        lengths = [self.lexicon.max_phrase, *(len(p) for p in self._shift_phrases),
                   *(len(p) for n in self.lexicon.numeric.values() for p in n.phrases)]
        self._max_phrase = max(lengths, default=1)

    # ------------------------------------------------------------------------------------------
    def parse(self, text: str) -> Preferences:
        """Read one message."""
        return self.read(text).prefs

    def read(self, text: str) -> RuleReading:
        """Read one message and report the content words no rule explained."""
        prefs = Preferences()
        work = _Work(self._superlative(unslang(strip_markup(text[:MAX_CHARS])), prefs))
        self._injection(work, prefs)
        self._unsupported(work, prefs)
        self._why_none(work, prefs)  # before the acts: "why are none of these comedies?" refuses nothing
        self._unfamiliar(work, prefs)  # before the acts: "something different from what I usually watch"
        self._reorder(work, prefs)  # before the acts and years: "newest first" orders, it asks no years
        self._acts(work, prefs)
        if self.titles and (not prefs.acts or {"compare", "best_of_shown"} & set(prefs.acts)):
            self._compared_titles(work, prefs)  # "which is better, Heat or Casino?", "Heat or Casino?"
        if self.titles and self.lexicon.relations:
            self._relations(work, prefs)  # before ordinals: "the director of #2" is one reference
            self._more_from_them(work, prefs)
        self._pointed_bounds(work, prefs)  # before ordinals: "the same year as #2" is a year
        self._ordinals(work, prefs)
        self._tell_me_more(work, prefs)
        self._quoted_titles(work, prefs)
        if self.titles:
            self._title_bounds(work, prefs)  # before the other titles: "after Star Wars" is a year
            named = self._named(strip_markup(text[:MAX_CHARS]))
            self._cued_titles(work, prefs, [key for _, key, _ in named])
            self._vibe_titles(strip_markup(text[:MAX_CHARS]), work, prefs)
            self._named_titles(work, named, prefs)
            self._title_series(work, prefs)
            self._bare_title(work, prefs)
        self._bind_pronouns(work, prefs)
        self._chosen(prefs)
        self._refused_picks(prefs)
        self._bare_similar(work, prefs)
        self._quality(work, prefs)
        self._traits(work, prefs)
        self._cued_facets(work, prefs, strip_markup(text[:MAX_CHARS]))
        if any(self.schema.get(r) is None for r in self.lexicon.relations):  # a graph of people, unnamed
            self._people(text[:MAX_CHARS], work, prefs)
        self._numbers(work, prefs)
        self._phrases(work, prefs)
        self._counted_values(work, prefs)
        leftover = self._query(work, prefs)
        self._audience_adds(prefs)
        prefs.clean()
        return RuleReading(prefs=prefs, leftover=leftover, text=text)

    def _compared_titles(self, work: _Work, prefs: Preferences) -> None:
        """"Which is better, Heat or Casino?", "Alien or Aliens, which is better?": the titles a
        comparison names between its separators, each matched strictly as a whole (a cue right
        before a title reads it anyway: "compare Alien and Aliens"); only when two or more are.
        With no cue, a question of titles alone ("Heat or Casino?") is a comparison too."""
        found: list[tuple[str, int, int]] = []
        toks, start = work.toks, 0
        for i in range(len(toks) + 1):
            if i < len(toks) and toks[i].text not in COMPARE_SEPARATORS:
                continue
            s, e = start, i
            while s < e and (toks[s].used or toks[s].text in COMPARE_FILLERS):
                s += 1
            if s < e and not work.any_used(s, e):
                hit = self._match_title(work.span_words(s, e), strict=True)
                trimmed = e
                while hit is None and trimmed > s + 1 and toks[trimmed - 1].text in COMPARE_FILLERS:
                    trimmed -= 1  # "is Heat better than …": the words after the title
                    hit = self._match_title(work.span_words(s, trimmed), strict=True)
                if hit is not None:
                    found.append((hit[0], s, trimmed))
            start = i + 1
        if len({item_id for item_id, _, _ in found}) < 2:
            return
        if not prefs.acts:
            covered = {i for _, s, e in found for i in range(s, e)}
            rest = {t.text for i, t in enumerate(toks) if i not in covered}
            if "?" not in rest or "or" not in rest or not rest <= COMPARE_SEPARATORS:
                return
            prefs.acts.append("compare")
        for item_id, s, e in found:
            prefs.similar_to.append(ItemRef(item_id=item_id, title=self.titles[item_id], mention=work.span_text(s, e)))
            work.use(s, e)

    def _superlative(self, text: str, prefs: Preferences) -> str:
        """"The funniest comedy you've got", "the scariest movie ever": the word itself (funny,
        scary) and the best rated of it; "which one is the scariest?" asks for the best of the
        list shown (the catalog has ratings, not a measure of scariness: the answer says so)."""
        if self._superlative_rx is None:
            return text
        def base(m: re.Match[str]) -> str:
            word = m.group(0).lower()
            prefs.quality = True
            prefs.evidence.setdefault("superlative", word)
            before = text[:m.start()].lower()
            if re.search(r"\bwhich(?: \w+){0,3} (?:is|was|would be|'s|s) (?:the )?$", before):
                return "best"  # "which of these is the scariest?": the best of the list, by rating
            return self._superlatives[word]
        return self._superlative_rx.sub(base, text)

    def _audience_adds(self, prefs: Preferences) -> None:
        """"A comedy", then "my kids are 5 and 8": a message that only wants values the lexicon
        keeps till last (who the film is for: Children's) adds them to the wishes instead of
        replacing the comedy."""
        kept = self.lexicon.last_to_drop
        wanted = [(f, v) for group in (prefs.include_all, prefs.include_any) for f, vs in group.items() for v in vs]
        if wanted and not prefs.replace and all(v in kept.get(f, ()) for f, v in wanted):
            prefs.additive = True

    # --- 1. injection ---------------------------------------------------------------------------
    def _injection(self, work: _Work, prefs: Preferences) -> None:
        """Set aside every sentence that tries to instruct the system. The rest of the message is
        read as usual: whatever it asks can only become filters over the catalog's own values,
        which any user may ask for directly."""
        for s, e in work.sentences():
            sentence = work.span_text(s, e)
            if any(re.search(p, sentence) for p in (*OVERRIDE, *REVEAL)):
                prefs.injection = True
                prefs.evidence["injection"] = (prefs.evidence.get("injection", "") + " " + sentence[:200]).strip()
                work.use(s, e)

    @staticmethod
    def _bind_pronouns(work: _Work, prefs: Preferences) -> None:
        """"We watched Toy Story and loved it", "I saw #2, it was great": "it" and "that" mean the
        title (or list position) the message named just before them, not the item in focus. Seen
        and liked (or disliked) is liked (disliked)."""
        def where(mention: str, last: bool) -> int:  # the mention's place in the message, as whole words
            found = [m.start() for m in re.finditer(rf"(?<!\w){re.escape(mention)}(?!\w)", work.joined)]
            return (found[-1] if last else found[0]) if found else -1

        groups = (prefs.liked, prefs.disliked, prefs.rejected, prefs.similar_to)
        titled = [(where(r.mention, False), r) for group in groups for r in group
                  if (r.item_id or r.ordinal is not None or r.pointer in ("oldest", "newest")) and r.mention]
        if not titled:
            return
        titled.sort(key=lambda pair: pair[0])
        asked = prefs.focus
        if asked is not None and asked.pointer == "focus" and asked.mention:
            # "the 1st one, what's it about?": a question about the title named first, which the
            # naming alone ("the 1st one") does not make a wish for similar ones
            before = [r for pos, r in titled if 0 <= pos < where(asked.mention, True)]
            if before:
                prefs.focus = before[-1].model_copy(update={"mention": asked.mention})
                prefs.similar_to[:] = [r for r in prefs.similar_to if r is not before[-1]]
        for group in groups:
            for i, ref in enumerate(group):
                if ref.pointer != "focus" or not ref.mention:
                    continue
                at = where(ref.mention, True)
                before = [r for pos, r in titled if 0 <= pos < at]
                if before:
                    group[i] = before[-1].model_copy(update={"mention": ref.mention})
        for i, rel in enumerate(prefs.related):  # "Star Wars and its sequels"
            if rel.ref.pointer != "focus" or not rel.ref.mention:
                continue
            at = where(rel.ref.mention, True)
            before = [(pos, r) for pos, r in titled if 0 <= pos < at]
            if not before:
                continue
            pos, named = before[-1]
            # "not Star Wars or any of its sequels" refuses both; "I've seen Star Wars, anything by
            # its director?" asks for them
            joined = set(work.joined[pos + len(named.mention):at].split()) <= {"or", "and", "nor", "any", "of", ",", "all"}
            refused = named in prefs.rejected and re.match(r"(?:not|no|nothing|except|but not)\b", named.mention)
            prefs.related[i] = rel.model_copy(update={"ref": named.model_copy(update={"mention": rel.ref.mention}),
                                                      "negated": rel.negated or bool(joined and refused)})
        felt = {(r.item_id, r.ordinal) for r in (*prefs.liked, *prefs.disliked)}
        prefs.rejected[:] = [r for r in prefs.rejected if (r.item_id, r.ordinal) not in felt]
        for group in groups:
            seen: set[tuple[str | None, int | None]] = set()
            group[:] = [r for r in group if r.pointer is not None
                        or not ((r.item_id, r.ordinal) in seen or seen.add((r.item_id, r.ordinal)))]

    def _title_series(self, work: _Work, prefs: Preferences) -> None:
        """"The Batman movies", "what about the Indiana Jones films?": a request that is only a
        title (or a title's first words) before a plural noun asks for its whole series, the film
        named included (as "the Star Wars trilogy"); before, it was "like Batman", without Batman."""
        if prefs.acts or "same_series" not in self.lexicon.relations or any(
                (prefs.similar_to, prefs.liked, prefs.disliked, prefs.rejected, prefs.related)):
            return
        m = TITLE_SERIES.match(work.joined)
        if m is None or work.any_used(*work.tok_range(m.start("title"), m.end("title"))):
            return
        said = m.group("title")
        hit = self._match_title(said, strict=True) or self._match_title(said, strict=False)
        if hit is None or self._phrase_at(work, work.tok_range(m.start("title"), m.end("title"))[0]):
            return
        s, e = work.tok_range(m.start("title"), m.end("noun"))
        ref = ItemRef(item_id=hit[0], title=self.titles[hit[0]], mention=work.span_text(s, e))
        prefs.related.append(RelatedRef(relation="same_series", noun="series", ref=ref, whole=True))
        work.use(*work.tok_range(m.start(), m.end()))

    def _bare_title(self, work: _Work, prefs: Preferences) -> None:
        """A message that is only a title ("Die Hard", "the godfather", "Fargo?"), or opens with
        one and "but" ("Titanic but less sad"): more like it. Before, its words were searched for
        ("die" is a German stop word: Hard Eight and Hard Target came with Die Hard). Only an exact
        title, and not a facet value or a subject ("aliens" stays the Sci-Fi subject). Cue words
        read already may open it ("also Casino", "what about Casino?"), and "and Casino" adds the
        title to the films to be like."""
        if prefs.acts or any((prefs.similar_to, prefs.liked, prefs.disliked, prefs.rejected, prefs.related)):
            return
        toks = work.toks
        content = [i for i, t in enumerate(toks) if t.word]
        while content and toks[content[0]].used and toks[content[0]].text not in BARE_TITLE_BREAKS:
            content = content[1:]
        if not content or any(toks[i].used for i in content):
            return
        if toks[content[0]].text in ("and", "plus"):
            prefs.additive = True  # "like Heat" → "and Casino": both
        for start in content:  # past leading fillers ("maybe Fargo"), but "Die Hard" from "die"
            span = self._title_span(work, start, "liked")  # strict
            if span is not None and self._phrase_at(work, start) >= span[1] - start:
                span = None  # a phrase as long as the title: "aliens" is the Sci-Fi subject (not "Dark City")
            spans = [(start, span)] if span is not None else []
            after = [i for i in content if i >= span[1]] if span is not None else []
            while after:  # "Heat or Casino", "Alien and Aliens", "Fargo, Heat and Casino"
                comma = any(t.text == "," for t in toks[spans[-1][1][1]:after[0]])
                joined = len(after) > 1 and toks[after[0]].text in ("or", "and")
                begin = after[1] if joined else after[0] if comma else None
                more = None if begin is None else self._title_span(work, begin, "liked")
                if more is None:
                    break
                spans.append((begin, more))
                after = [i for i in content if i >= more[1]]
            # only fillers after it ("Die Hard movies", "Casablanca please"), or "but" and the
            # changes ("Titanic but less sad": like Titanic, less sad)
            if spans and (all(toks[i].text in self._stop for i in after) or toks[after[0]].text == "but"):
                for begin, (item_id, end) in spans:
                    self._add_ref(prefs, "similar", ItemRef(item_id=item_id, title=self.titles[item_id],
                                                            mention=work.span_text(begin, end)))
                    work.use(begin, end)
                return
            said_alone = start + 1 < len(toks) and toks[start + 1].text in (",", "!", ".", ";")
            if toks[start].text not in self._stop or (toks[start].text in BARE_TITLE_BREAKS and not said_alone):
                return  # "nothing too heavy" refuses a mood; it does not ask for the film Heavy ("no, Casino" does)

    def _bare_similar(self, work: _Work, prefs: Preferences) -> None:
        """'Anything similar?', 'similar ones?' with no object: like what this message liked ("the
        second one sounds good, anything similar?", "I loved Fargo. Something similar?"), else like
        the item in focus (the one just answered about, or the list's first)."""
        for s, e, m in work.finditer(BARE_SIMILAR):
            if work.any_used(s, e):
                continue
            if m.group(0).startswith("what else") and not prefs.liked:  # "what else would we like?" alone: more
                prefs.acts.append("show_more")
                work.use(s, e)
                continue
            refs = list(prefs.liked) or [ItemRef(pointer="focus")]
            for ref in refs:
                if ref not in prefs.similar_to:
                    prefs.similar_to.append(ref.model_copy(update={"mention": work.span_text(s, e)}))
            work.use(s, e)

    @staticmethod
    def _why_none(work: _Work, prefs: Preferences) -> None:
        """'Why no horror?', 'how come there's nothing from the 80s?': the why-not question about
        the values named after it, to the end of the sentence; they are read as wanted (the
        question's values), and the turn answers instead of refusing them. A title there is still
        read as a why-not question about that title ("why no Star Wars?"; see `_cue_at`)."""
        for s, e, _ in work.finditer(WHY_NONE):
            if work.any_used(s, e):
                continue
            end = next((hi for lo, hi in work.sentences() if lo <= s < hi), len(work.toks))
            if e >= end:
                continue
            work.use(s, e)
            work.why_cues.append((s, e))
            work.asking.append((e, end))
            if "why_not" not in prefs.acts:
                prefs.acts.append("why_not")

    def _unfamiliar(self, work: _Work, prefs: Preferences) -> None:
        """"Something different from what I usually watch", "out of my comfort zone", "a change of
        pace": picks away from the person's own history (the turn leans on it; see
        `convrec.agent.habits`)."""
        self._read_trait(work, prefs, "familiarity", "unfamiliar", UNFAMILIAR)

    def _quality(self, work: _Work, prefs: Preferences) -> None:
        """"the best", "top rated", "acclaimed" (after titles, so "The Best Years of Our Lives"
        stays a title)."""
        for pattern in QUALITY:
            for s, e, _ in work.finditer(pattern):
                if not work.any_used(s, e):
                    prefs.quality = True
                    work.use(s, e)

    def _traits(self, work: _Work, prefs: Preferences) -> None:
        """Wishes about what convrec knows of an item beyond its facets (after titles: "Popular"
        stays a title): "hidden gems", "nothing too mainstream" → lesser known; "something
        popular" → well known; "award-winning", "an Oscar winner" → won an award; "Oscar-nominated"
        → nominated; "a foreign film", "with subtitles" → a foreign language; "the worst", "lowest
        rated" → the worst rated. The first phrase read for a trait decides it."""
        for trait, value, patterns in (("renown", "lesser_known", LESSER_KNOWN), ("renown", "well_known", WELL_KNOWN),
                                       ("awards", "nominated", AWARD_NOMINATED), ("awards", "won", AWARD_WON),
                                       ("language", "foreign", FOREIGN), ("language", "native", NATIVE),
                                       ("rating", "worst", WORST)):
            self._read_trait(work, prefs, trait, value, patterns)

    def _read_trait(self, work: _Work, prefs: Preferences, trait: str, value: str, patterns: list[str]) -> None:
        """Every unread match of `patterns` asks for `value` of `trait` (the first one read for a
        trait decides it, and gives the evidence). A foreign language refused ("no foreign films",
        "I don't like subtitles") asks for the others; allowed ("subtitles are fine"), for neither."""
        for pattern in patterns:
            for s, e, _ in work.finditer(pattern):
                if not work.any_used(s, e):
                    polarity = self._polarity(work, s, [], e) if value == "foreign" else "want"
                    if polarity != "allow":
                        prefs.traits.setdefault(trait, "native" if polarity == "neg" else value)
                        prefs.evidence.setdefault(f"trait:{trait}", work.span_text(s, e))
                    work.use(s, e)

    # --- 2. acts and cues -----------------------------------------------------------------------
    def _reorder(self, work: _Work, prefs: Preferences) -> None:
        """"Sort them by year", "newest first", "in order of popularity", "alphabetically": the list
        shown again in that order (`reorder_shown`, `order`); by rating it is "which is the best"."""
        year = self.lexicon.year_facet
        for s, e, m in work.finditer(REORDER):
            if work.any_used(s, e):
                continue
            key = (m.group("key") or m.group("first") or m.group("which") or m.group("chrono") or m.group("abc")
                   or ("again" if m.group("again") or m.group("again2") else "")).lower()
            direction = m.group("dir") or ""
            if key == "again":
                act, order = "reorder_shown", "shown"
            elif m.group("keep") or m.group("keep2"):
                act, order = "reorder_shown", "shown"
                prefs.count = _count_value(m.group("keep") or m.group("keep2"))
            elif key in ("rating", "ratings", "score", "best rated", "highest rated", "top rated"):
                act, order = "best_of_shown", None
            elif key in ("popularity", "most popular", "best known"):
                act, order = "reorder_shown", "popular"
            elif key in ("least known", "least popular"):
                act, order = "reorder_shown", "popular:asc"
            elif key in ("title", "titles", "name", "names", "alphabetical", "alphabetically"):
                act, order = "reorder_shown", "title"
            elif year is None:
                continue
            else:
                newest = key in ("newest", "latest", "most recent", "reverse chronological") or direction in (
                    "descending", "newest first", "new to old", "from newest")
                act, order = "reorder_shown", f"{year.facet}:{'desc' if newest else 'asc'}"
            if act not in prefs.acts:
                prefs.acts.append(act)  # type: ignore[arg-type]
            prefs.order = order  # "sort by year, newest first": the later words say the direction
            if m.group("which"):
                prefs.evidence["which"] = m.group("which")  # "which one is the oldest?": the answer names it
            work.use(s, e)

    def _acts(self, work: _Work, prefs: Preferences) -> None:
        for act, patterns in ACT_PATTERNS.items():
            for pattern in patterns:
                for s, e, m in work.finditer(pattern):
                    if work.any_used(s, e):
                        continue
                    if act == "swap":  # the verb cues the references; "for something else" is no new wish
                        if m.group("tail"):
                            work.use(*work.tok_range(m.start("tail"), m.end("tail")))
                    elif act not in ("describe", "compare", "choose"):  # cues of the references after them
                        work.use(s, e)
                    if act not in prefs.acts:
                        prefs.acts.append(act)  # type: ignore[arg-type]
                    chunk = work.span_text(s, e)
                    many = re.search(rf"\b(?:top|best) ({_NUMW}) of\b", chunk) if act == "best_of_shown" else None
                    if many and _count_value(many.group(1)):
                        prefs.count = _count_value(many.group(1))  # "top 3 of those": three of them
                    if act == "something_else" and re.search(
                            r"none of|neither|not (?:these|those)|seen|watched|hated|dislike|like|can t stand"
                            r"|don t|do not|didn t|did not|nothing (?:here|there|in)", chunk):
                        prefs.rejected.append(ItemRef(pointer="all_shown", mention=chunk))
                    if act == "count_matches":  # "how many of them are comedies?" counts within the list
                        prefs.evidence["count_matches"] = chunk
                    if act == "something_else" and "completely" in chunk and "reset" not in prefs.acts:
                        prefs.acts.insert(0, "reset")  # all new wishes, and none of what was shown
        for s, e, _m in work.finditer(ALL_TIME):
            work.use(s, e)  # "my all-time favourite is Casablanca": no search words (cue words would be)
        for s, e, _m in work.finditer(MY_LIKES):
            work.use(s, e)  # "more like the ones I rated highly": the history the ranker goes by, no search words
        for s, e, _m in work.finditer(ALSO_LIKED):
            work.use(s, e)  # "people who liked Fargo also liked ...": what they liked is the request, no addition
        for pattern in ADDITIVE:
            for s, e, _m in work.finditer(pattern):
                if not work.any_used(s, e):
                    prefs.additive = True
                    work.use(s, e)
        for pattern in REPLACE:
            for s, e, _m in work.finditer(pattern):
                if not work.any_used(s, e):
                    prefs.replace = True
                    work.use(s, e)

    # --- 3. references --------------------------------------------------------------------------
    def _role_before(self, work: _Work, s: int) -> tuple[Role | None, int]:
        """The role cue ending just before token s (over at most 3 filler words), and where it starts."""
        lo = work.clause_start(s)
        end, steps = s, 0
        skip = {"the", "one", "of", "me", "something", "a", "bit", "more", "them", "movie", "film", "movies",
                "films", "stuff", "ones", "things", "really", "also", "just", "though", "so", "too", "is",
                "already", "that"}
        while end > lo and steps <= 3:
            for role, cue in self._role_cues:
                n = len(cue)
                if end - n >= lo and work.words_at(end - n, n) == cue:
                    return role, end - n
            if work.toks[end - 1].text not in skip:
                break
            end -= 1
            steps += 1
        return None, s

    @staticmethod
    def _role_after(work: _Work, e: int) -> tuple[Role | None, int]:
        """A role stated after a reference ("#2 was great"), or after a list of them that it ends
        ("1 and 3 look good", "#2, #4 were boring"), and how many tokens state it (from e)."""
        past = e
        hashed = e >= 2 and work.toks[e - 2].text == "#"  # a list goes on in one form: "#1, #3" / "1, 3"
        while past + 1 < len(work.toks) and work.toks[past].text in LIST_SEPARATORS:
            step = 2 if hashed else 1
            if past + step >= len(work.toks) or (hashed and work.toks[past + 1].text != "#") \
                    or not re.fullmatch(r"1?\d|20", work.toks[past + step].text):
                break
            past += step + 1
        rest = work.span_text(past, min(len(work.toks), past + 6))
        for role, rx in POST_ROLES:
            m = rx.search(rest)
            if m:
                said = m.group("use") if "use" in rx.groupindex and m.group("use") else m.group(0)
                # after a list, the list's last reference takes the words; the others none
                return role, len(said.split()) if past == e else 0
        return None, 0

    def _chosen(self, prefs: Preferences) -> None:
        """"I'll take #2", "#2 it is", "I'll watch Fargo": one pick or title chosen is liked and
        answered about (`focus`); with none, or several, the act is dropped (what else was said
        stands)."""
        if "choose" not in prefs.acts:
            return
        named = [*prefs.liked, *prefs.similar_to]
        if len(named) != 1 or prefs.focus is not None:
            prefs.acts.remove("choose")
            return
        if named[0] in prefs.similar_to:
            prefs.similar_to.remove(named[0])
            prefs.liked.append(named[0])
        self._add_ref(prefs, "focus", named[0].model_copy())

    @staticmethod
    def _refused_picks(prefs: Preferences) -> None:
        """"Not #3", "I've already seen 1 and 2", "skip the second one", "not that one" (after "tell
        me about #2"): list picks refused, and no other act or reference: the act `swap` (those
        picks replaced, the rest kept, as "swap #3" does; the turn gives a whole new list when the
        other wishes said change what the rest met)."""
        if not prefs.acts and prefs.rejected and all(r.ordinal is not None or r.pointer == "focus" for r in prefs.rejected) \
                and not (prefs.liked or prefs.disliked or prefs.similar_to or prefs.related):
            prefs.acts.append("swap")

    def _tell_me_more(self, work: _Work, prefs: Preferences) -> None:
        """"#4 sounds good, tell me more": a question about the one pick the message singled out.
        A bare "tell me more" ("ok, tell me more please") asks about the item in focus (the one
        last talked about, else the list's first), not for a new list."""
        if prefs.focus is not None or "choose" in prefs.acts:
            return
        # "#4 sounds good, tell me more", "the last one you showed, tell me more"
        named = [*prefs.liked, *prefs.similar_to]
        singled = len(named) == 1 and named[0].ordinal is not None and not (prefs.disliked or prefs.rejected)
        for s, e, _ in work.finditer(TELL_MORE):
            rest = [t.text for i, t in enumerate(work.toks) if t.word and not t.used and not s <= i < e]
            if not singled and (prefs.liked or prefs.similar_to or prefs.disliked or prefs.rejected
                                or any(w not in BARE_TELL_MORE for w in rest)):
                return
            work.use(s, e)
            if "show_more" in prefs.acts:  # "tell me a bit more please" is no "more please"
                prefs.acts.remove("show_more")
            if singled and named[0] in prefs.similar_to:  # named to be asked about, not to be like
                prefs.similar_to.remove(named[0])
            ref = named[0].model_copy() if singled else ItemRef(pointer="focus", mention=work.span_text(s, e))
            self._add_ref(prefs, "focus", ref)
            for i, t in enumerate(work.toks):
                if t.word and t.text in BARE_TELL_MORE:
                    work.use(i, i + 1)
            return

    @staticmethod
    def _add_ref(prefs: Preferences, role: Role, ref: ItemRef) -> None:
        if role in ("focus", "why_not"):
            # "tell me about #2": informational; the turn loop answers about the item in focus.
            # "why not Star Wars?": the turn loop says why the picks left it out
            act = "describe" if role == "focus" else "why_not"
            if act not in prefs.acts:
                prefs.acts.append(act)  # type: ignore[arg-type]
            prefs.focus = ref
            return
        {"similar": prefs.similar_to, "liked": prefs.liked, "disliked": prefs.disliked,
         "rejected": prefs.rejected}[role].append(ref)

    def _ordinals(self, work: _Work, prefs: Preferences) -> None:
        ordw_picks = "|".join(sorted((w for w in ORDINAL_WORDS if w != "top"), key=len, reverse=True))
        patterns = [
            (r"# ?(?P<n>\d{1,2})\b", False),
            (r"\b(?:number|num|nr|no \.|item|option|pick|choice|result|entry) ?#? ?(?P<n>\d{1,2})\b(?! ?s\b)"
             r"(?! (?:years?|minutes?|hours?|dollars))", False),
            (r"\b(?:the )?(?P<w>first|top) (?P<k>two|three|four|five|2|3|4|5)(?: " + REF_NOUNS + r")?\b", True),
            (r"^(?:the )?(?P<w>first) (?P<k>two|three|four|five|2|3|4|5)(?: " + REF_NOUNS + r")?(?: please)? ?[.!]?$",
             False),  # "the first two", alone: those picks
            (rf"\b(?:the )?(?P<w>{_ORDW}) {REF_NOUNS}\b", False),
            # "the oldest one looks good", "more like the newest one": by the list's years
            (r"\b(?:the )?(?P<age>oldest|earliest|newest|latest|most recent) (?:one|movie|film|pick|book"
             r"|of (?:these|those|them))\b", False),
            # "the 2nd please", "not that one, the second": an ordinal closing the message is a pick
            (rf"(?:^|(?<=[,;:] ))(?:and |ok |okay )?(?:the )?(?P<w>{ordw_picks})(?: please)? ?[.!]?$", False),
            (rf"\b(?:the )?(?P<w>{_ORDW})\b", True),  # bare: only with a role cue
            # "I liked 2 and 3", "more like 2", "not 4": a bare list number, only with a role cue and
            # nothing after it that makes it a count or an amount ("I like 2 comedies", "2 hours")
            (rf"\b(?P<b>1?\d|20)(?= ?(?:$|[,.!?;&]|(?:and|or|but|too|please|as well|{_POST_VERBS}|{_TURNED_DOWN})\b))",
             True),
            (r"^(?P<b>1?\d|20)(?: please)? ?[.!]?$", False),  # a message that is only a number: that pick
            (r"\b(?:that|this) (?:one|movie|film|pick|suggestion|title|book)\b", False),
            (r"\b(?:seen|watched|saw|hated|loved|liked|like|enjoyed) (?P<it>it|that)\b", False),
            (r"^(?:how \w+ |why )?(?:is|was|does|did|has) (?P<it>it|that)\b|^why (?P<it2>it|that)\b", False),  # "is it a romance?"
            (r"\b(?P<it>it|that)(?= was )", True),  # "I saw Fargo, it was great": liked, by what follows
            (r"\b(?:swap|replace|switch)(?: out)? (?P<it>it|that)\b(?! (?:one|movie|film|pick|book)\b)", False),  # "#3, swap it"
            (r"\bwhat(?: s| is| was) (?P<it>it|that)(?= (?:one |movie |film |book )?about\b)", False),  # "what's it about?"
            # "tell me more about it", "why did you pick it?": a question about the item in focus
            (r"\b(?:tell me (?:a (?:bit|little) )?(?:more )?about|more about|info on|details (?:on|about)|describe|explain"
             r"|why did you (?:pick|choose|suggest|recommend|include)"
             r"|where (?:can i|do i|could i|to) (?:watch|stream|rent|buy|find|see)) (?P<it>it|that)\b", False),
            # "who is in it?", "who directed that?", "what year is it from?": a question about it
            (r"\b(?:who(?: s| is| was)? in|who (?:directed|made|wrote|stars in|starred in)|when was|when did"
             r"|what year (?:is|was)|what genre is|how long is|how good is) (?P<it>it|that)\b", False),
        ]
        ends: dict[int, Role] = {}  # where each reference read so far ends, and its role
        for pattern, needs_cue in patterns:
            for s, e, m in work.finditer(pattern):
                gd = m.groupdict()
                if gd.get("it") or gd.get("it2"):
                    s = e - 1  # the reference is "it"; the verb before it is the cue
                if work.any_used(s, e):
                    continue
                if gd.get("w") and gd["w"] in work.capitalized and e < len(work.toks) \
                        and work.toks[e].text in work.capitalized:
                    continue  # "like The Sixth Sense": a title's words, not pick #6
                role, cue_start = self._role_before(work, s)
                post, post_len = self._role_after(work, e)
                if role is None and post is None and s >= 2 and work.toks[s - 1].text in LIST_SEPARATORS \
                        and ends.get(s - 1):
                    role, cue_start = ends[s - 1], s  # "I loved #1 and #3": the list shares its cue
                if gd.get("b") and needs_cue and (role not in (None, "liked", "disliked", "rejected", "similar") or (
                        role == "similar" and cue_start >= 1 and work.toks[cue_start - 1].text in ("d", "would"))):
                    continue  # "he is 30" is no question about #30; "I'd like 2" is how many, not more like #2
                if needs_cue and role is None and post is None:
                    continue
                if post in ("liked", "disliked") and role in (None, "similar"):
                    role = post
                role = role or post or "similar"
                mention = work.span_text(cue_start, e)
                if gd.get("k"):
                    k = NUMBER_WORDS.get(gd["k"]) or int(gd["k"])
                    refs = [ItemRef(ordinal=i, mention=mention) for i in range(1, k + 1)]
                elif gd.get("n") or gd.get("b"):
                    refs = [ItemRef(ordinal=int(gd.get("n") or gd["b"]), mention=mention)]
                elif gd.get("w"):
                    refs = [ItemRef(ordinal=ORDINAL_WORDS[gd["w"]], mention=mention)]
                elif gd.get("age"):
                    refs = [ItemRef(pointer="oldest" if gd["age"] in ("oldest", "earliest") else "newest",
                                    mention=mention)]
                    if OF_THE_CATALOG.match(work.span_text(e, min(len(work.toks), e + 8))):
                        prefs.evidence["age_of"] = "catalog"  # "the oldest movie you have": of all, not of the list
                else:
                    refs = [ItemRef(pointer="focus", mention=mention)]
                for ref in refs:
                    self._add_ref(prefs, role, ref)
                work.use(cue_start, e + (post_len if post else 0))
                ends[e] = role

    def _relations(self, work: _Work, prefs: Preferences) -> None:
        """'films by the director of Fargo', 'the same writer as Pulp Fiction', 'with the actors
        from Heat': items sharing a knowledge-graph relation (the lexicon's `[relations]`) with a
        title. A refusal ('not by the director of Fargo') is left to the other passes."""
        nouns = {key[0]: relation for relation, keys in self.lexicon.relations.items() for key in keys if len(key) == 1}
        toks = work.toks
        for p, tok in enumerate(toks):
            relation = nouns.get(tok.text)
            if relation is None or tok.used:
                continue
            found = self._relation_ref(work, p)
            if found is None:
                continue
            ref, first, end = found
            start = first
            while start > 0 and first - start < 3 and toks[start - 1].text in RELATION_LEADS and not toks[start - 1].used:
                start -= 1
            negated = self._polarity(work, start, []) == "neg"  # "nothing by the director of Fargo"
            noun = RELATION_NOUN_AS.get(tok.text, tok.text)
            # "the Star Wars trilogy", "the Godfather saga": the whole series (the title right before
            # the noun); "its sequels", "a sequel to Alien": the others
            whole = tok.text in WHOLE_SERIES and bool(ref.title) and first < p and end == p + 1
            prefs.related.append(RelatedRef(relation=relation, noun=noun, ref=ref, negated=negated, whole=whole))
            # "the directors of Fargo and Heat", "the cast of Heat, Casino or Ronin": more titles
            while ref.title and end + 1 < len(toks) and toks[end].text in LIST_SEPARATORS and not toks[end].used:
                span = self._title_span(work, end + 1, "similar")
                if span is None:
                    break
                ref = ItemRef(item_id=span[0], title=self.titles[span[0]], mention=work.span_text(end + 1, span[1]))
                prefs.related.append(RelatedRef(relation=relation, noun=noun, ref=ref, negated=negated))
                end = span[1]
            work.use(start, end)

    def _more_from_them(self, work: _Work, prefs: Preferences) -> None:
        """'The 2nd one is great, more from him': "him"/"her" after "more from/by" is the person
        behind the film in focus, read as its director (the chip says so and can be removed)."""
        relation = next((r for r, keys in self.lexicon.relations.items() if ("director",) in keys), None)
        if relation is None:
            return
        for s, e, _ in work.finditer(MORE_FROM_THEM):
            if not work.any_used(s, e):
                prefs.related.append(RelatedRef(relation=relation, noun="director",
                                                ref=ItemRef(pointer="focus", mention=work.span_text(s, e))))
                work.use(s, e)

    def _relation_ref(self, work: _Work, p: int) -> tuple[ItemRef, int, int] | None:
        """What the relation noun at token p points at, with the tokens that say so [first, end):
        "Fargo's director", "the Star Wars series", "its director" / "the same director", "the
        director of Fargo" / "of #2" / "the same director as Fargo"."""
        toks = work.toks
        before = toks[p - 1].text if p > 0 else ""
        after = toks[p + 1].text if p + 1 < len(toks) else ""
        if before == "s" and p >= 2:  # "Fargo's director": the title ends before the 's
            for b in range(p - 2, max(-1, p - 10), -1):
                span = self._title_span(work, b, "similar")
                if span and span[1] == p - 1:
                    ref = ItemRef(item_id=span[0], title=self.titles[span[0]], mention=work.span_text(b, p - 1))
                    return ref, b, p + 1
        if p >= 1 and before not in RELATION_PRONOUNS | RELATION_LEADS:  # "the Star Wars series", "the Fargo cast"
            for b in range(p - 1, max(-1, p - 10), -1):
                # strictly a title: "the original trilogy" is no loose match for Original Gangstas
                span = self._title_span(work, b, "liked")
                if span and span[1] == p:
                    ref = ItemRef(item_id=span[0], title=self.titles[span[0]], mention=work.span_text(b, p))
                    return ref, b, p + 1
        # "the Godfather" → "the sequel", "any sequels?", "is there a prequel?": the item in focus's
        # (a sequel noun closing the message; "the director" alone stays a question)
        closing = all(not t.word or t.text == "please" for t in toks[p + 1:])
        if before in ("the", "a", "any") and toks[p].text in SEQUEL_NOUNS and closing:
            return ItemRef(pointer="focus", mention=work.span_text(p - 1, p + 1)), p - 1, p + 1
        if before in RELATION_PRONOUNS or (before == "same" and after != "as"):
            # "its director", "the same writer": the item in focus, or a title named before "its"
            # ("not Star Wars or any of its sequels": `_bind_pronouns`)
            mention = work.span_text(p - 1, p + 1) if before in RELATION_PRONOUNS else ""
            return ItemRef(pointer="focus", mention=mention), p - 1, p + 1
        if not (after in RELATION_LINKS or (before == "same" and after == "as")) or p + 2 >= len(toks):
            return None
        listed = RELATION_ORDINAL.match(work.joined[toks[p + 2].start:])
        if listed:  # "the director of #2", "the writer of the second one"
            return ItemRef(ordinal=_listed_position(listed)), p, work.tok_range(0, toks[p + 2].start + listed.end())[1]
        span = self._title_span(work, p + 2, "similar")
        if span is None:
            return None
        return ItemRef(item_id=span[0], title=self.titles[span[0]], mention=work.span_text(p + 2, span[1])), p, span[1]

    def _unsupported(self, work: _Work, prefs: Preferences) -> None:
        """'a comedy under 90 minutes', 'rated PG-13', 'Oscar winners': what the catalog has no
        data on (the lexicon's `[unsupported]`). Their words are no search text; the reply says
        which part of the request it could not use."""
        for label, patterns in self.lexicon.unsupported.items():
            for rx in patterns:
                for s, e, m in work.finditer(rx):
                    if work.any_used(s, e):
                        continue
                    prefs.unsupported.setdefault(label, m.group(0))
                    work.use(s, e)

    def _people(self, text: str, work: _Work, prefs: Preferences) -> None:
        """'something by Tarantino', 'starring Tom Hanks': a person's name, in a catalog whose
        graph links people to items without naming them. The reply then says it cannot look
        names up (and how to ask instead) rather than pass the name off as a search."""
        text = strip_markup(text)
        found = [m.group("name") for m in (*PERSON_AFTER_CUE.finditer(text), *PERSON_AFTER_WITH.finditer(text),
                                           *PERSON_REFUSED.finditer(text), *PERSON_AFTER_FROM.finditer(text))]
        # "I love Jim Carrey comedies": after the name, an item noun or a facet value ("comedies")
        found += [m.group("name") for m in PERSON_AFTER_FEELING.finditer(text)
                  if not m.group("after") or m.group("after") in self.lexicon.item_nouns
                  or (m.group("after"),) in self.lexicon.phrases]
        found += [m.group("name") or m.group("owner") for m in PERSON_BEFORE_NOUN.finditer(text)
                  if m.group("noun") in self.lexicon.item_nouns]
        found += [m.group("name") for m in PERSON_OPENING.finditer(text)
                  if not m.group("noun") or m.group("noun") in self.lexicon.item_nouns
                  or (m.group("noun"),) in self.lexicon.phrases]
        for name in found:
            key = tuple(words(name))
            span = work.find_words(key) if key else None
            if span is None or not key or set(key) <= self._stop or set(key) & self.lexicon.item_nouns:
                continue  # already read as something else (a title, a value), or no name at all
            if self._lookup(key) is not None or self._match_title(" ".join(key), strict=True) is not None:
                continue
            if key[0] in NOT_PEOPLE:
                continue  # "by Sunday", "by Christmas": when, not who
            if name not in prefs.unknown_people:
                prefs.unknown_people.append(name)
            work.names.append(span)

    def _title_bounds(self, work: _Work, prefs: Preferences) -> None:
        """'A sci-fi movie that came out after Star Wars', 'something older than Titanic': the year
        facet bounded by a title's year (the state looks the year up); 'from the same year as
        Titanic', 'around the same time as Heat': that year, or a few either side. Only a title (strictly
        matched) after the cue: "after the 90s" and "before 1980" are read as years later."""
        year = self.lexicon.year_facet
        if year is None:
            return
        for cue, direction, either_side in [*((c, d, 0) for c, d in TITLE_BOUND_CUES),
                                            *((c, 0, w) for c, w in TITLE_NEAR_CUES)]:
            for s, e, _ in work.finditer(rf"\b{cue}\b"):
                if work.any_used(s, e) or self._title_span(work, s, "liked") is not None:
                    continue  # the cue starts a title itself: "Before the Rain", "Before and After"
                start = self._skip_leads(work, e)
                hit = self._title_span(work, start, "liked")  # strict: a title, not a loose match
                if hit is None:
                    continue
                item_id, end = hit
                mention = work.span_text(s, end)
                ref = ItemRef(item_id=item_id, title=self.titles[item_id], mention=mention)
                prefs.shifts.append(RangeShift(facet=year.facet, direction=direction, anchor=ref,  # type: ignore[arg-type]
                                               step=float(either_side), mention=mention))
                work.use(s, end)

    def _pointed_bounds(self, work: _Work, prefs: Preferences) -> None:
        """'From the same year as #2', 'the same era as the second one', 'from the same year as it',
        and after talking about a film 'something from the same year' or 'from that year': the year
        facet around a pick's or the film in focus's year, as `_title_bounds` does for a title ("at
        the same time", with no lead, is not a year: "funny and sad at the same time" asks for both,
        and those words are not searched)."""
        for s, e, _ in work.finditer(r"\b(?:both )?at the same time\b|\bat once\b"):
            if not work.any_used(s, e):
                work.use(s, e)
        year = self.lexicon.year_facet
        if year is None:
            return
        for pattern in POINTED_NEAR:
            for s, e, m in work.finditer(pattern):
                if work.any_used(s, e):
                    continue
                gd = m.groupdict()
                mention = work.span_text(s, e)
                if gd.get("n") or gd.get("n2") or gd.get("w"):
                    ref = ItemRef(ordinal=_listed_position(m), mention=mention)
                else:
                    ref = ItemRef(pointer="focus", mention=mention)
                prefs.shifts.append(RangeShift(facet=year.facet, direction=0, anchor=ref,  # type: ignore[arg-type]
                                               step=0.0 if gd["kind"] == "year" else 3.0, mention=mention))
                work.use(s, e)

    def _quoted_titles(self, work: _Work, prefs: Preferences) -> None:
        quotes = [i for i, t in enumerate(work.toks) if t.text in ('"', "'") and not t.used]
        i = 0
        while i + 1 < len(quotes):
            a, b = quotes[i], quotes[i + 1]
            hit = self._match_title(work.span_words(a + 1, b), strict=False) if 1 < b - a <= 12 else None
            if hit is None:
                i += 1
                continue
            role, cue_start = self._role_before(work, a)
            role = role or self._role_after(work, b + 1)[0] or "similar"
            self._add_ref(prefs, role, ItemRef(item_id=hit[0], title=self.titles[hit[0]],
                                               mention=work.span_text(a, b + 1)))
            work.use(min(cue_start, a), b + 1)
            i += 2

    def _cued_titles(self, work: _Work, prefs: Preferences, named: Iterable[tuple[str, ...]] = ()) -> None:
        """Titles after a role cue ("like Heat", "I hated Titanic"), through a list ("like Heat and
        Casino"). `named` are the words of names the catalog lacks (`_named`): one of them is
        stepped over, so the list goes on ("I loved Amelie and Fargo" still likes Fargo)."""
        n = len(work.toks)
        named = sorted(set(named), key=len, reverse=True)
        pos = 0
        while pos < n:
            role, cue_len = self._cue_at(work, pos)
            if role is None:
                pos += 1
                continue
            start = pos + cue_len
            first = True
            while True:
                start = self._skip_leads(work, start)
                hit = self._title_span(work, start, role)
                if hit is None:
                    # a name the catalog lacks: the list reads on past it; it is no search word
                    # when titles the catalog has stand beside it
                    skip = next((len(k) for k in named if work.words_at(start, len(k)) == k), 0)
                    after = start + skip
                    if not skip or work.any_used(start, after):
                        break
                    if after + 1 < n and work.toks[after].text in LIST_SEPARATORS:
                        work.use(pos if first else start, after + 1)  # the picks go by the titles it has
                        first = False
                        start = after + 1
                        continue
                    if not first:
                        work.use(start, after)  # the list ends with it: "I loved Fargo and Amelie"
                    break
                item_id, end = hit
                self._add_ref(prefs, role, ItemRef(item_id=item_id, title=self.titles[item_id],
                                                   mention=work.span_text(pos if first else start, end)))
                work.use(pos if first else start, end)
                first = False
                # "like Heat and Casino": keep reading titles through a list
                if end < n and work.toks[end].text in TITLE_BLENDS and not work.toks[end].used:
                    start = end + 1 + (work.toks[end].text in ("crossed", "mixed") and end + 1 < n
                                       and work.toks[end + 1].text == "with")
                    if work.toks[end].text not in LIST_SEPARATORS and self._title_span(work, start, role):
                        work.use(end, start)  # "meets", "crossed with": no search words
                    continue
                break
            # past the whole cue when no title followed: "I like war movies" is no "like" + The War
            pos = start if not first else pos + max(cue_len, 1)

    def _vibe_titles(self, text: str, work: _Work, prefs: Preferences) -> None:
        """A capitalized title just before "vibes", "-style", "-esque" is a comparison ("a film with
        Star Wars vibes"); the longest tail of the name that is exactly a title counts ("I want
        Fargo vibes" is Fargo)."""
        for m in TITLE_BEFORE_VIBE.finditer(text):
            key = tuple(words(m.group("name")))
            for s in range(len(key)):
                tail = key[s:]
                if set(tail) <= NAME_TAIL | self._stop or self._lookup(tail) is not None:
                    continue  # "a horror-style", "the Western feel": a facet value, read later
                hit = self._match_title(" ".join(tail), strict=True)
                span = work.find_words(tail) if hit is not None else None
                if span is not None and hit is not None:
                    end = span[1] + (span[1] < len(work.toks) and not work.toks[span[1]].word)  # "-style"
                    end = min(end + 1, len(work.toks))
                    self._add_ref(prefs, "similar", ItemRef(item_id=hit[0], title=self.titles[hit[0]],
                                                            mention=work.span_text(span[0], end)))
                    work.use(span[0], end)
                    break

    def _named(self, text: str) -> list[tuple[str, tuple[str, ...], Role]]:
        """Capitalized names after a comparison, a like or a dislike (`NAMED_AFTER_CUE`) that are
        no catalog title (strictly matched), facet value or kind of item: (the name as written,
        its words, the cue's role), one per list entry. They are the titles the catalog may lack."""
        out: list[tuple[str, tuple[str, ...], Role]] = []
        for m in NAMED_AFTER_CUE.finditer(text):
            cue = m.group("cue").casefold()
            role: Role = "liked" if cue.startswith("favo") else NAMED_CUE_ROLE.get(cue, "similar")  # type: ignore[assignment]
            after = re.match(r"\s*([\w'’-]+)", text[m.end():])
            noun_after = bool(after and words(after.group(1)) and words(after.group(1))[0] in self.lexicon.item_nouns)
            entries = re.split(r"\s+(?:and|or|&)\s+", _first_sentence(m.group("name")))
            for k, name in enumerate(entries):
                if noun_after and k == len(entries) - 1:
                    continue  # "I liked Italian cinema": a kind of item, not a title
                parts = name.rstrip(".!:").split()
                while parts and parts[-1].casefold() in NAME_TAIL:
                    parts.pop()
                key = tuple(words(" ".join(parts)))
                content = {w for w in key if w not in NAME_TAIL}
                if len(" ".join(key)) < 3 or content <= self._stop:
                    continue
                if content & self.lexicon.item_nouns:
                    continue  # a kind of item, not a title ("I love Christmas movies")
                if self._lookup(key) is not None or any(self._lookup((w,)) is not None for w in key):
                    continue  # a genre or another facet value ("I liked Westerns")
                if self._match_title(" ".join(key), strict=True) is not None:
                    continue  # in the catalog after all
                out.append((" ".join(parts), key, role))
        return out

    def _named_titles(self, work: _Work, named: list[tuple[str, tuple[str, ...], Role]], prefs: Preferences) -> None:
        """Names the person compared with or liked (`_named`) that the cued-title pass did not
        read. A capitalized name is a title, so it may match loosely ("Dr. Strangelove" for "Dr.
        Strangelove or: How I Learned to Stop Worrying and Love the Bomb"); one that matches
        nothing is said to be missing, instead of pretending the catalog has it."""
        known = {w for r in prefs.item_refs(focus=False) for w in (*words(r.mention or ""), *words(r.title or ""))}
        for name, key, role in named:
            if {w for w in key if w not in NAME_TAIL} <= known:
                continue  # read as a title after all (a fuzzy or partial match)
            span = work.find_words(key)
            hit = self._match_title(" ".join(key), strict=False) if span else None
            if span and hit is not None:
                self._add_ref(prefs, role, ItemRef(item_id=hit[0], title=self.titles[hit[0]], mention=name))
                work.use(*span)
            elif name not in prefs.unknown_titles:
                prefs.unknown_titles.append(name)

    def _cue_at(self, work: _Work, pos: int) -> tuple[Role | None, int]:
        for lo, hi in work.why_cues:  # "why none of the Star Wars films?": the question's whole cue
            if pos == lo:
                return "why_not", hi - lo
        for role, cue in self._role_cues:
            n = len(cue)
            # the words of a why-none question are used, but still the cue of a title after them
            asking = any(lo <= pos and pos + n <= hi for lo, hi in work.why_cues)
            if work.words_at(pos, n) != cue or (work.any_used(pos, pos + n) and not asking):
                continue
            before = work.toks[pos - 1].text if pos > 0 else ""
            after = work.toks[pos + n].text if pos + n < len(work.toks) else ""
            # "I'd like", "would like to": wanting, not comparing
            wanting = before in {"d", "would", "should"} or after in {"to", "it", "that", "this"}
            if cue[-1] in ("like", "love") and wanting:
                continue
            return ("why_not" if asking else role), n  # "how come there's no Fargo?" asks about Fargo
        return None, 0

    def _skip_leads(self, work: _Work, start: int) -> int:
        for lead in self._title_leads:
            if work.words_at(start, len(lead)) == lead:
                return start + len(lead)
        return start

    def _title_span(self, work: _Work, start: int, role: Role) -> tuple[str, int] | None:
        """The best title starting at token `start`: (item id, end token), or None."""
        n = len(work.toks)
        if start >= n or work.toks[start].used or not work.toks[start].word:
            return None
        # A genre or a year after the cue is not a title ("I like horror", "like the 90s"), unless the
        # words are exactly a title after a comparison ("something like Aliens").
        skip_article = start + 1 if work.toks[start].text in {"a", "an", "the", "some"} else start
        vocab_word = self._phrase_at(work, start) or self._phrase_at(work, skip_article) or bool(
            re.match(r"(?:1[89]|20)?\d0 ?s\b|(?:1[89]|20)\d\d\b", work.joined[work.toks[start].start:]))
        stop = {",", ".", ";", "!", "?", "(", ")", '"'}
        best: tuple[str, int, float] | None = None
        end = start
        while end < n and end - start < 14 and not work.toks[end].used:
            text = work.toks[end].text
            # a full stop inside a title: after an abbreviation or an initial ("Mr. Holland's Opus",
            # "L.A. Confidential", "E.T. the Extra-Terrestrial")
            inside = text == "." and end > start and (work.toks[end - 1].text in TITLE_ABBREVIATIONS
                                                      or len(work.toks[end - 1].text) == 1)
            if text in stop and not inside:
                break
            end += 1
            if not work.toks[end - 1].word:
                continue
            hit = self._match_title(work.span_words(start, end), strict=role != "similar" or vocab_word)
            if hit is None:
                continue
            item_id, score = hit
            if vocab_word and end < n and work.toks[end].text in self.lexicon.item_nouns:
                continue  # "war movies" is the genre, not The War
            # a message's first capital says nothing: "Dark City" is written as a title by "City"
            first = skip_article + 1 if skip_article == 0 and end - skip_article > 1 else skip_article
            written_as_title = all(t.text in work.capitalized for t in work.toks[first:end] if t.word)
            if vocab_word and (score < 100 or (role != "similar" and not written_as_title)):
                continue
            # longer spans win when about as good: "the lion king" over "the lion"
            if best is None or score > best[2] + 3 or (score >= best[2] - 3 and end > best[1]):
                best = (item_id, end, score)
        return (best[0], best[1]) if best else None

    def _match_title(self, query: str, strict: bool) -> tuple[str, float] | None:
        q = " ".join(words(query))
        if len(q) < 2 or q in self._stop:
            return None
        if q in self._exact_title:
            return self._pick(self._exact_title[q]), 100.0
        if len(q) <= 4:
            return None
        cutoff = 92.0 if strict else (90.0 if len(q) <= 8 else 86.0)
        hit = process.extractOne(q, self._title_keys, scorer=fuzz.ratio, score_cutoff=cutoff)
        if hit is not None:
            key, score, _idx = hit
            return self._pick(self._exact_title[key]), float(score)
        # a well-known short form: the first words of a title ("shawshank", "raiders of the lost ark")
        if len(q) >= 6 and not strict and q.split()[0] not in self._stop:
            prefix = [i for k, i in zip(self._title_keys, self._title_ids, strict=True) if k.startswith(q + " ")]
            if prefix:
                return self._pick(prefix), 85.0
        return None

    def _pick(self, ids: list[str]) -> str:
        ids = list(dict.fromkeys(ids))
        if len(ids) == 1:
            return ids[0]
        return max(ids, key=lambda i: (self.popularity.get(i, 0.0), -len(self.titles.get(i, ""))))

    def _cued_facets(self, work: _Work, prefs: Preferences, text: str = "") -> None:
        """Large vocabularies (authors, publishers): '<cue> <value>' fuzzy-matched against the facet,
        and a capitalized name just before a kind of item ('a Stephen King novel') matched closely."""
        for facet, cues in self.lexicon.cued.items():
            spec = self.schema.get(facet)
            if spec is None or not spec.values:
                continue
            keys = self._facet_keys.get(facet)
            if keys is None:  # built on first use: 100k authors take a moment
                keys = self._facet_keys[facet] = [" ".join(words(v)) for v in spec.values]
            for m in NAME_BEFORE_NOUN.finditer(text):
                key = tuple(words(m.group("name")))
                span = work.find_words(key) if m.group("noun") in self.lexicon.item_nouns and key else None
                if span is None or set(key) <= self._stop | NAME_TAIL:
                    continue
                hit = process.extractOne(" ".join(key), keys, scorer=fuzz.ratio, score_cutoff=92)
                if hit is not None:
                    value, mention = spec.values[hit[2]], work.span_text(*span)
                    if self._polarity(work, span[0], []) == "neg":
                        prefs.add_exclude(facet, [value], mention)
                    else:
                        prefs.add_include(facet, [value], "all", mention)
                    work.use(*span)
            for cue in cues:
                for s in range(len(work.toks)):
                    if work.words_at(s, len(cue)) != cue or work.any_used(s, s + len(cue)):
                        continue
                    start = s + len(cue)
                    best: tuple[int, float, int] | None = None
                    e = start
                    # names may carry initials: "by j. k. rowling"
                    while e < len(work.toks) and e - start < 9 and (work.toks[e].word or work.toks[e].text == ".") \
                            and not work.toks[e].used:
                        e += 1
                        if not work.toks[e - 1].word:
                            continue
                        q = work.span_words(start, e)
                        if len(q) < 3:
                            continue
                        hit = process.extractOne(q, keys, scorer=fuzz.ratio, score_cutoff=88)
                        if hit and (best is None or hit[1] >= best[1]):
                            best = (hit[2], hit[1], e)
                    if best is None:
                        continue
                    value = spec.values[best[0]]
                    mention = work.span_text(s, best[2])
                    if self._polarity(work, s, []) == "neg":
                        prefs.add_exclude(facet, [value], mention)
                    else:
                        prefs.add_include(facet, [value], "all", mention)
                    work.use(s, best[2])

    # --- 4. numbers -----------------------------------------------------------------------------
    def _numbers(self, work: _Work, prefs: Preferences) -> None:
        for s, e, m in work.finditer(AGE_NUMBERS):
            if m.group("age"):
                said = work.span_text(s, e)
                s, e = work.tok_range(m.start("age"), m.end("age"))
                if all(int(n) <= CHILD_AGE for n in re.findall(r"\d+", m.group("age"))):
                    # "my son is 7": what "kids" means in this catalog (MovieLens: Children's)
                    for p in self.lexicon.phrases.get(("kids",), []):
                        if p.mode != "none":
                            prefs.add_include(p.facet, list(p.values), p.mode, said, inferred=True)
            work.use(s, e)  # "my 8 year old": an age, no search word ("year old" is the lexicon's)
        year = self.lexicon.year_facet
        if year is not None:
            self._relative_years(work, prefs, year)
            for kind, pattern in NUM_PATTERNS:
                for s, e, m in work.finditer(pattern):
                    if work.any_used(s, e):
                        continue
                    rng = self._year_range(kind, m, year)
                    if rng is None:
                        continue
                    work.use(s, e)
                    polarity = self._polarity(work, s, [], end=e)
                    if polarity in ("withdraw", "allow"):  # "drop the 80s", "the 70s are fine"
                        (prefs.lifted if polarity == "withdraw" else prefs.widened).setdefault(year.facet, []).append(rng)
                        continue
                    if polarity == "neg":
                        outside = invert(rng, year)
                        if outside is None:  # a span in the middle: "nothing from the 70s"
                            prefs.exclude_range(year.facet, rng, work.span_text(s, e))
                            continue
                        rng = outside
                    setting = SETTING_CUE.search(" ".join(t.text for t in work.toks[max(0, s - 3):s]))
                    if setting:  # "a western set in the 1800s": when the story happens, not the release
                        said = " ".join(t.text for t in work.toks[s - len(setting.group(0).split()):e])
                        work.use(s - len(setting.group(0).split()), s)
                        if year.low is not None and rng.high is not None and rng.high < year.low:
                            prefs.unsupported.setdefault(STORY_SETTINGS, said)  # no release years to stand in
                            continue
                        prefs.evidence["setting:year"] = said  # release years stand in; the reply says so
                    prefs.set_range(year.facet, rng, work.span_text(s, e))
        for num in self.lexicon.numeric.values():
            if num.role == "amount":
                self._amounts(work, prefs, num)
        for s, e, _ in work.finditer(SEEN_SO_MANY):
            if not work.any_used(s, e):
                work.use(s, e)  # "I've seen 500 movies": what they know, not how many to show
        for s, e, m in work.finditer(COUNT):
            group = next(g for g in ("n", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9") if m.group(g))
            if group == "n9" and not work.any_used(*work.tok_range(m.start(group), m.end(group))):
                value = _count_value(m.group(group))
                if value:
                    prefs.count = value
                    work.use(s, e)  # "3 more": the next ones, three of them
                    if not prefs.acts and not prefs.similar_to:  # "3 more like #2" is like #2
                        prefs.acts.append("show_more")
                continue
            if group == "n5":
                work.use(s, e)  # "a shorter list, 3": the words about the list are no search words
                prefs.count = _count_value(m.group(group)) or prefs.count
                continue
            ns, ne = work.tok_range(m.start(group), m.end(group))
            if work.any_used(ns, ne):
                continue
            value = _count_value(m.group(group))
            if value:
                prefs.count = value
                work.use(ns, ne)  # only the number: "3 funny movies" still says funny
        for s, e, m in work.finditer(LIST_SIZE):
            if prefs.count is None and not work.any_used(s, e):
                prefs.count = LIST_SIZES[m.group("size")]
                work.use(s, e)
        for s, e, m in work.finditer(OVER_COUNT):
            g = next(g for g in ("n", "n2", "n3") if m.group(g))
            ns, ne = work.tok_range(m.start(g), m.end(g))
            if prefs.count is None and int(m.group(g)) > MAX_COUNT and not work.any_used(ns, ne):
                prefs.count = MAX_COUNT  # the most one list gives, and the reply says so
                prefs.evidence["count_over"] = m.group(g)
                work.use(ns, ne)

    def _counted_values(self, work: _Work, prefs: Preferences) -> None:
        """"5 good comedies", "just one western", "3 westerns": a number before a facet value
        (one or two words apart) is how many to show. `COUNT` knows item words ("5 movies"); the
        values are only known once the facets are read. Before, the number became a search word."""
        if prefs.count is not None:
            return
        toks = work.toks
        for i, t in enumerate(toks):
            over = not t.used and re.fullmatch(_OVER, t.text) is not None and int(t.text) > MAX_COUNT
            value = None if t.used or (t.text.isdigit() and len(t.text) > 2) else _count_value(t.text)
            if not (value or over):
                continue
            for j in range(i + 1, min(i + 4, len(toks))):
                if toks[j].used and self._phrase_at(work, j):
                    prefs.count = value or MAX_COUNT
                    if over:  # "60 comedies": the most one list gives, and the reply says so
                        prefs.evidence["count_over"] = t.text
                    work.use(i, i + 1)
                    return
                if toks[j].used or not toks[j].word or toks[j].text in COUNT_BREAKS:
                    break

    def _relative_years(self, work: _Work, prefs: Preferences, year: NumericFacet) -> None:
        for s, e, _ in work.finditer(ANY_TIME):
            if not work.any_used(s, e):
                prefs.lifted[year.facet] = []  # "any year is fine": every limit on it goes
                work.use(s, e)
        if year.high is None:
            return
        for s, e, m in work.finditer(RELATIVE):
            if work.any_used(s, e):
                continue
            raw = m.group("n") or ""
            n = {"few": 3, "couple of": 2}.get(raw) or NUMBER_WORDS.get(raw) or (int(raw) if raw.isdigit() else 1)
            if m.group("unit").startswith("decade"):
                n *= 10
            prefs.set_range(year.facet, NumericRange(low=year.high - n + 1), work.span_text(s, e))
            work.use(s, e)
        for s, e, m in work.finditer(AGO):
            if work.any_used(s, e):
                continue
            raw = m.group("n")
            n = {"a": 1, "a few": 3, "a couple of": 2, "thirty": 30, "forty": 40, "fifty": 50}.get(raw) or NUMBER_WORDS.get(raw) or (int(raw) if raw.isdigit() else 1)
            decades = m.group("unit").startswith("decade")
            back, slack = (n * 10, 5) if decades else (n, 2)
            when = year.high - back
            prefs.set_range(year.facet, NumericRange(low=when - slack, high=min(when + slack, year.high)), work.span_text(s, e))
            work.use(s, e)

    def _year_value(self, m: re.Match[str], p: str, year: NumericFacet) -> tuple[float, float] | None:
        """(first, last) year of the decade or year captured under group prefix p."""
        gd = m.groupdict()
        if gd.get(p + "year"):
            y = float(gd[p + "year"])
            return y, y
        cent = gd.get(p + "cent")
        if gd.get(p + "ord") or (cent and gd.get(p + "dig") == "0" and cent != "20"):
            # a century: "the 1800s" is 1800-1899 ("early": its first decades); "the 2000s" is a decade
            start = (int(gd[p + "ord"]) - 1) * 100 if gd.get(p + "ord") else int(cent) * 100
            lo, hi = getattr(year, gd[p + "per"]) if gd.get(p + "per") else (0, 9)
            return float(start + lo * 10), float(start + hi * 10 + 9)
        if gd.get(p + "dig") is not None:
            digit = int(gd[p + "dig"])
        elif gd.get(p + "dig2") is not None:
            digit = int(gd[p + "dig2"])
        elif gd.get(p + "word"):
            digit = DECADE_WORDS[gd[p + "word"]]
        else:
            return None
        start = int(gd[p + "cent"]) * 100 + digit * 10 if gd.get(p + "cent") else century(digit, year)
        per = gd.get(p + "per")
        if per:
            lo, hi = getattr(year, per)
            return float(start + lo), float(start + hi)
        return float(start), float(start + 9)

    def _year_range(self, kind: str, m: re.Match[str], year: NumericFacet) -> NumericRange | None:
        a = self._year_value(m, "a", year)
        if a is None:
            return None
        if kind == "span":
            short = m.groupdict().get("bshort")
            if short:
                b0 = (int(a[0]) // 100) * 100 + int(short)
                b0 += 100 if b0 < a[0] else 0
                b: tuple[float, float] | None = (float(b0), float(b0))
            else:
                b = self._year_value(m, "b", year)
            if b is None:
                return None
            return NumericRange(low=min(a[0], b[0]), high=max(a[1], b[1]))
        return {
            "high_excl": NumericRange(high=a[0] - 1),
            "high_incl": NumericRange(high=a[1]),
            "low_excl": NumericRange(low=a[1] + 1),
            "low_incl": NumericRange(low=a[0]),
        }.get(kind, NumericRange(low=a[0], high=a[1]))

    def _amounts(self, work: _Work, prefs: Preferences, num: NumericFacet) -> None:
        """'under $20', 'less than 20 dollars', 'price between 10 and 30', 'over 300 pages'."""
        units = [re.escape(u) for u in num.units] + [re.escape(" ".join(c)) + "s?" for c in num.cues]
        if not units:
            return
        unit = "(?:" + "|".join(sorted(units, key=len, reverse=True)) + ")"
        value = r"\d+(?: \. \d+)?"
        amount = rf"(?:{unit} ?{value}|{value} ?{unit})"
        cue = "(?:" + "|".join(re.escape(" ".join(c)) for c in num.cues) + ")" if num.cues else "(?!x)x"
        patterns = [
            ("between", rf"\b(?:{cue} )?(?:between|from) (?:{unit} )?{value} (?:and|to|-) (?:{unit} )?{value}(?: {unit})?"),
            ("high", rf"{AMOUNT_HIGH} {amount}"),
            ("low", rf"{AMOUNT_LOW} {amount}"),
            ("high", rf"\b{cue} (?:of )?{AMOUNT_HIGH} {value}"),
            ("low", rf"\b{cue} (?:of )?{AMOUNT_LOW} {value}"),
        ]
        for kind, pattern in patterns:
            for s, e, m in work.finditer(pattern):
                if work.any_used(s, e):
                    continue
                numbers = [float(x.replace(" ", "")) for x in re.findall(value, m.group(0))]
                if kind == "between" and len(numbers) >= 2:
                    rng = NumericRange(low=min(numbers[:2]), high=max(numbers[:2]))
                elif kind != "between" and numbers:
                    rng = NumericRange(high=numbers[0]) if kind == "high" else NumericRange(low=numbers[0])
                else:
                    continue
                prefs.set_range(num.facet, rng, work.span_text(s, e))
                work.use(s, e)

    # --- 5. phrases -----------------------------------------------------------------------------
    def _lookup(self, key: tuple[str, ...]) -> _Mention | list[Phrase] | None:
        if key in self._shift_phrases:
            num, direction, span = self._shift_phrases[key]
            return _Mention(0, 0, "shift", num=num, direction=direction, span=span)
        for num in self.lexicon.numeric.values():
            if key in num.phrases:
                return _Mention(0, 0, "numphrase", num=num, rng=num.phrases[key])
        return self.lexicon.phrases.get(key)

    def _phrase_at(self, work: _Work, i: int) -> int:
        """How many words the longest lexicon phrase starting at token i has (0: none)."""
        for n in range(min(self._max_phrase, len(work.toks) - i), 0, -1):
            if self._lookup(work.words_at(i, n)) is not None:
                return n
        return 0

    def _typo_match(self, word: str) -> list[Phrase] | None:
        if len(word) < 4 or not word.isalpha() or word in self._stop or word in NEVER_FUZZY:
            return None
        for cand, meanings in self._typo.items():
            if abs(len(cand) - len(word)) <= 1 and OSA.distance(word, cand, score_cutoff=1) <= 1:
                return meanings
        return None

    def _phrases(self, work: _Work, prefs: Preferences) -> None:
        toks = work.toks
        mentions: list[_Mention] = []
        i = 0
        while i < len(toks):
            if toks[i].used or not toks[i].word:
                i += 1
                continue
            got: list[_Mention] = []
            for n in range(min(self._max_phrase, len(toks) - i), 0, -1):
                if any(t.used or not t.word for t in toks[i:i + n]):
                    continue
                hit = self._lookup(work.words_at(i, n))
                if isinstance(hit, _Mention):
                    hit.start, hit.end = i, i + n
                    got = [hit]
                elif hit:
                    got = [_Mention(i, i + n, "cat", phrase=p) for p in hit]
                if got:
                    break
            if not got:
                typo = self._typo_match(toks[i].text)
                got = [_Mention(i, i + 1, "cat", phrase=p) for p in typo or []]
            if not got:
                i += 1
                continue
            for m in got:
                m.text = work.span_text(m.start, m.end)
            mentions.extend(got)
            work.use(got[0].start, got[0].end)
            i = got[0].end
        previous: _Mention | None = None
        for m in mentions:
            m.polarity = self._polarity(work, m.start, mentions, m.end)
            m.soft = m.polarity == "neg" and self._softened(work, m.start)
            if previous is not None and previous.start == m.start:
                m.polarity, m.soft = previous.polarity, previous.soft
            previous = m
            if m.phrase is not None and m.phrase.topic and m.polarity in ("want", "neg"):
                for t in toks[m.start:m.end]:
                    t.topic = True
            # comparatives and anaphora add to what was asked: "a funnier one", "an animated one"
            word = toks[m.end - 1].text
            before = toks[m.start - 1].text if m.start > 0 else ""
            after = toks[m.end].text if m.end < len(toks) else ""
            if m.polarity == "want" and (word.endswith("ier") or word in COMPARATIVES or before in {"more", "extra"}
                                         or after in {"one", "ones"}
                                         or work.words_at(max(0, m.start - 2), 2) == ("make", "it")):
                prefs.additive = True
        self._apply_mentions(work, prefs, mentions)

    def _polarity(self, work: _Work, s: int, mentions: list[_Mention], end: int | None = None) -> Polarity:
        """The polarity of what starts at token s: from the cue opening its clause, carried through lists."""
        toks = work.toks
        if any(lo <= s < hi for lo, hi in work.asking):
            return "want"  # "why no horror?": the question's values (see `_why_none`)
        lo = work.clause_start(s)
        if end is not None and end < len(toks) and toks[end].text == "free":  # "horror-free"
            toks[end].used = True
            return "neg"
        if s > 0 and toks[s - 1].text == "non":  # "non-violent"
            toks[s - 1].used = True
            return "neg"
        if self._bare_too(work, s):
            return "neg"  # "that was too scary": a milder one (`_softened`); "not too scary" reads on below
        if end is not None and ALLOW_AFTER.search(work.span_text(end, min(len(toks), end + 4))):
            return "allow"
        j = s
        linked = False
        while j > lo:
            for cues, pol in ((self._neg_cues, "neg"), (self._allow_cues, "allow"), (self._withdraw_cues, "withdraw")):
                for cue in cues:
                    if j - len(cue) >= lo and work.words_at(j - len(cue), len(cue)) == cue:
                        if pol == "neg" and cue == ("not",) and work.words_at(j - 2, 1) == ("why",):
                            return "want"  # "why not a western?" proposes one (a title there is asked about)
                        return pol  # type: ignore[return-value]
            prev = toks[j - 1]
            owner = next((m for m in mentions if m.start <= j - 1 < m.end and m.start < s), None)
            if owner is not None:
                # a list carries its first item's polarity ("no horror or war"); side by side without
                # a connector the words are separate ("nothing violent for my kids")
                return owner.polarity if linked else "want"
            if prev.text in CONNECTORS:
                linked = True
            elif prev.text not in FILLERS and prev.text not in self.lexicon.item_nouns:
                return "want"
            j -= 1
        return "want"

    @staticmethod
    def _bare_too(work: _Work, s: int) -> bool:
        """Token s follows a "too" that no negation governs: "that was too scary", not "not too
        scary" or "nothing too old"."""
        toks = work.toks
        return s > 0 and toks[s - 1].text == "too" and (s < 2 or toks[s - 2].text not in NEGATION_WORDS)

    def _softened(self, work: _Work, s: int) -> bool:
        """True when the negation governing token s is a softener ("less silly", "fewer explosions",
        "not too violent"): the nearest cue before it in its clause decides."""
        lo = work.clause_start(s)
        for j in range(s - 1, lo - 1, -1):
            word, after = work.toks[j].text, work.toks[j + 1].text if j + 1 < len(work.toks) else ""
            if word in SOFTENERS or (word == "not" and after in SOFTENED_NOT):
                return True
            if any(work.words_at(j, len(cue)) == cue for cue in self._neg_cues):
                return False
        return False

    @staticmethod
    def _inclusive(work: _Work, m: _Mention) -> bool:
        """Whether a "none" phrase is said as "as well" rather than "instead": "an animated film
        that adults will enjoy too", "one adults like as well", "even grown-ups love it". Looks to
        the end of the clause after the phrase, and one word before it."""
        if m.start > 0 and work.toks[m.start - 1].text in INCLUSIVE_BEFORE:
            return True
        clause: list[str] = []
        for tok in work.toks[m.end : m.end + 8]:
            if not tok.text.isalnum() or tok.text in CLAUSE_BREAKS or tok.text in INCLUSIVE_STOPS:
                break
            clause.append(tok.text)
        return any(w in INCLUSIVE_AFTER for w in clause) or "as well" in " ".join(clause)

    def _apply_mentions(self, work: _Work, prefs: Preferences, mentions: list[_Mention]) -> None:
        wanted_here = {(m.phrase.facet, v) for m in mentions if m.kind == "cat" and m.polarity == "want"
                       and m.phrase is not None and m.phrase.mode != "none" for v in m.phrase.values}
        positives: list[_Mention] = []
        for m in mentions:
            if m.kind == "shift":
                assert m.num is not None
                direction = -m.direction if m.polarity == "neg" else m.direction
                prefs.shifts.append(RangeShift(facet=m.num.facet, direction=direction,  # type: ignore[arg-type]
                                               fallback=self._shift_fallback(m.num, direction), step=m.num.step,
                                               span=m.span, mention=m.text))
                continue
            if m.kind == "numphrase":
                assert m.num is not None and m.rng is not None
                rng = invert(m.rng, m.num) if m.polarity == "neg" else m.rng
                one_sided = (m.rng.low is None) != (m.rng.high is None)
                if m.polarity == "neg" and one_sided and self._bare_too(work, m.start):
                    # "too old" (said of what was shown): newer than that, as "newer" moves; with
                    # nothing to move from, not old ("nothing too old" reads on below as a bound)
                    direction = 1 if m.rng.low is None else -1
                    prefs.shifts.append(RangeShift(facet=m.num.facet, direction=direction, fallback=rng,  # type: ignore[arg-type]
                                                   step=m.num.step, mention=m.text))
                    continue
                if rng is not None and m.polarity in ("want", "neg"):
                    prefs.set_range(m.num.facet, rng, m.text, inferred=True)
                continue
            ph = m.phrase
            assert ph is not None
            inferred = not ph.explicit
            if ph.mode == "none":
                # "for adults" refuses its values; "not for adults" wants them; "forget the
                # grown-up part" lifts the refusal. "One adults will enjoy too" refuses nothing.
                if m.polarity == "want" and self._inclusive(work, m):
                    continue
                if m.polarity == "want":
                    prefs.add_exclude(ph.facet, list(ph.values), m.text, inferred=True)
                elif m.polarity == "neg":
                    prefs.add_include(ph.facet, list(ph.values), "any" if len(ph.values) > 1 else "all", m.text,
                                      inferred=True)
                elif m.polarity == "withdraw":
                    bucket = prefs.allow.setdefault(ph.facet, [])
                    bucket.extend(v for v in ph.values if v not in bucket)
                continue
            if m.polarity == "neg":
                values = list(ph.values)
                if len(values) > 1:
                    # a group refusal ("not too violent") yields to a value named as wanted ("action")
                    values = [v for v in values if (ph.facet, v) not in wanted_here]
                # "less silly" softens a mood word; "less comedy" names the value and refuses it
                prefs.add_exclude(ph.facet, values, m.text, inferred=inferred, softened=m.soft and inferred)
            elif m.polarity == "allow":
                bucket = prefs.allow.setdefault(ph.facet, [])
                bucket.extend(v for v in ph.values if v not in bucket)
            elif m.polarity == "withdraw":
                bucket = prefs.withdraw.setdefault(ph.facet, [])
                bucket.extend(v for v in ph.values if v not in bucket)
            elif ph.mode == "any" and len(ph.values) > 1:
                prefs.add_include(ph.facet, list(ph.values), "any", m.text, inferred=inferred)
            else:
                positives.append(m)
        # Wanted single values in a list joined by "or" are any-of ("a mystery, thriller or crime
        # movie"); otherwise each is wanted ("a funny, romantic movie").
        chains: list[list[_Mention]] = []
        for m in positives:
            if chains:
                last = chains[-1][-1]
                between = [t.text for t in work.toks[last.end:m.start]]
                if last.phrase and m.phrase and last.phrase.facet == m.phrase.facet and all(
                        t in CONNECTORS or t in {"a", "an", "some", "the"} for t in between):
                    chains[-1].append(m)
                    continue
            chains.append([m])
        for chain in chains:
            links = {t.text for a, b in zip(chain, chain[1:], strict=False) for t in work.toks[a.end:b.start]}
            if chain[0].start > 0 and work.toks[chain[0].start - 1].text == "either":
                links.add("either")
            is_any = len(chain) > 1 and bool(links & OR_WORDS) and "and" not in links
            facet = chain[0].phrase.facet  # type: ignore[union-attr]
            if is_any:
                values = list(dict.fromkeys(v for m in chain for v in m.phrase.values))  # type: ignore[union-attr]
                prefs.add_include(facet, values, "any", " / ".join(m.text for m in chain),
                                  inferred=not all(m.phrase.explicit for m in chain))  # type: ignore[union-attr]
            else:
                for m in chain:
                    prefs.add_include(facet, list(m.phrase.values), "all", m.text,  # type: ignore[union-attr]
                                      inferred=not m.phrase.explicit)  # type: ignore[union-attr]

    @staticmethod
    def _shift_fallback(num: NumericFacet, direction: int) -> NumericRange | None:
        key = ("old",) if direction < 0 else ("recent",)
        if key in num.phrases:
            return num.phrases[key]
        if num.low is not None and num.high is not None:
            mid = round((num.low + num.high) / 2)
            return NumericRange(high=mid) if direction < 0 else NumericRange(low=mid)
        return None

    # --- 6. what is left ------------------------------------------------------------------------
    def _query(self, work: _Work, prefs: Preferences) -> list[str]:
        for s, e, _ in work.finditer(OF_THE_CATALOG):
            work.use(s, e)  # "the best rated movie in your catalog": no search words
        keep: list[str] = []
        avoid: list[str] = []
        for i, tok in enumerate(work.toks):
            if (tok.used and not tok.topic) or not tok.word or tok.text in self._stop or tok.text in self._cue_tokens:
                continue
            if (len(tok.text) == 1 and not tok.text.isdigit()) or (tok.text.isdigit() and len(tok.text) <= 2):
                continue  # a letter, or a small number ("for 6 friends"): no search word; years are read before
            # a name is one phrase: "not Jim Carrey" refuses both words, not "jim" alone
            first = next((lo for lo, hi in work.names if lo <= i < hi), i)
            (avoid if self._polarity(work, first, []) == "neg" else keep).append(tok.text)
            if tok.topic:
                prefs.topics.append(tok.text)
        prefs.query = " ".join(keep)
        prefs.avoid = " ".join(avoid)
        return keep


# Chat spellings read as the words they stand for ("gimme a gud comedy 2nite", "smth w/ my gf")
SLANG = {"u": "you", "ur": "your", "gimme": "give me", "wanna": "want to", "gonna": "going to", "smth": "something",
         "sth": "something", "smthg": "something", "gud": "good", "recomend": "recommend", "reccomend": "recommend",
         "recommed": "recommend", "reccommend": "recommend", "2nite": "tonight", "tonite": "tonight", "rly": "really",
         "b4": "before", "luv": "love", "gf": "girlfriend", "bf": "boyfriend", "abt": "about", "w/": "with",
         "w/o": "without", "bc": "because", "cuz": "because", "coz": "because",
         # everyday misspellings of words that carry no search meaning ("somthing less scary")
         "somthing": "something", "sumthing": "something", "somethin": "something", "someting": "something",
         "anythin": "anything", "anyting": "anything", "nothin": "nothing", "nuthin": "nothing", "movei": "movie",
         "moive": "movie", "flim": "film"}
# (never inside a title's spelling: "U Turn", "U.S. Marshals", "U-571")
_SLANG = re.compile(r"(?<![\w/.'-])(?:" + "|".join(re.escape(k) for k in sorted(SLANG, key=len, reverse=True))
                    + r")(?![\w/.'-])", re.IGNORECASE)


# "nothing 2 heavy", "a movie 4 tonight": a digit for a word, only where no count can stand
_DIGIT_WORDS = [(re.compile(r"\b(nothing|none|anything) 2 (?=\w)", re.IGNORECASE), r"\1 too "),
                (re.compile(r"\b4 (?=(?:tonight|me|us|my|our|the weekend)\b)", re.IGNORECASE), "for ")]


# "I said comedy but I meant drama", "I typed 80s, I meant 90s": what was said is withdrawn
_MISSPOKE = re.compile(r"\bi (?:said|asked for|wrote|typed|put)\s+(?P<what>[^,.;!?]{1,40}?)\s*,?\s*(?:but\s+)?"
                       r"(?:i\s+)?(?:meant|mean)\b", re.IGNORECASE)


def unslang(text: str) -> str:
    """Chat spellings as the words they stand for (`SLANG`, `_DIGIT_WORDS`), and a wish taken back
    as it is corrected (`_MISSPOKE`: "I said X but I meant Y" reads "forget X, I meant Y")."""
    text = _MISSPOKE.sub(lambda m: f"forget {m.group('what')}, I meant", text)
    # a capital "U" is a letter ("U Turn"), not "you"
    text = _SLANG.sub(lambda m: m.group(0) if m.group(0) == "U" else SLANG[m.group(0).lower()], text)
    for rx, words_for in _DIGIT_WORDS:
        text = rx.sub(words_for, text)
    return text


def superlatives(word: str) -> list[str]:
    """'funny' → funniest, 'scary' → scariest, 'sad' → saddest, 'cute' → cutest, 'dark' → darkest."""
    if not word.isalpha() or len(word) < 3:
        return []
    if word.endswith("y") and word[-2] not in "aeiou":
        return [word[:-1] + "iest"]
    if word.endswith("e"):
        return [word + "st"]
    if len(word) <= 4 and word[-1] not in "aeiouwxy" and word[-2] in "aeiou" and word[-3] not in "aeiou":
        return [word + word[-1] + "est"]  # sad → saddest, hot → hottest
    return [word + "est"]


def _cue_list(cues: Iterable[str]) -> list[tuple[str, ...]]:
    return sorted({words(c) for c in cues} - {()}, key=len, reverse=True)


def century(digit: int, year: NumericFacet) -> int:
    """'80s' → 1980 or 2080: the century whose decade lies in (or nearest to) the catalog's years."""
    lo = year.low if year.low is not None else 1900
    hi = year.high if year.high is not None else 2030
    best, best_d = 1900 + digit * 10, float("inf")
    for base in (1900, 2000):
        start = base + digit * 10
        d = 0.0 if lo - 9 <= start <= hi else min(abs(start - hi), abs(start + 9 - lo))
        if d < best_d:
            best, best_d = start, d
    return best


def invert(rng: NumericRange, num: NumericFacet) -> NumericRange | None:
    """The complement of a range as one range: 'not before 1980' → from 1980; 'nothing from the
    90s' → up to 1989 when the 90s end the catalog's range. A hole in the middle cannot be one
    range: None (it becomes an excluded range instead)."""
    if rng.low is not None and rng.high is None:
        return NumericRange(high=rng.low - 1)
    if rng.high is not None and rng.low is None:
        return NumericRange(low=rng.high + 1)
    if rng.low is not None and rng.high is not None:
        if num.high is not None and rng.high >= num.high:
            return NumericRange(high=rng.low - 1)
        if num.low is not None and rng.low <= num.low:
            return NumericRange(low=rng.high + 1)
    return None


def title_keys(title: str) -> list[str]:
    """Ways a user may write a title: as is, without a leading article, without or only with the
    parenthesized alternative title ('Seven (Se7en)'), the part before a colon ('Terminator 2'),
    with "and" for "&" ('Oscar and Lucinda')."""
    keys = [title, *([title.replace("&", " and ")] if "&" in title else [])]
    if "(" in title:
        keys += [re.sub(r"\([^)]*\)", " ", title), *re.findall(r"\(([^)]*)\)", title)]
    if ":" in title:
        keys.append(title.split(":")[0])
    out: list[str] = []
    for raw in keys:
        key = " ".join(_Work.tokenize(raw))
        if not key:
            continue
        for form in (key, *sequel_forms(key)):
            out.append(form)
            parts = form.split(" ")
            if len(parts) > 1 and parts[0] in ("the", "a", "an"):
                out.append(" ".join(parts[1:]))
    return [k for k in dict.fromkeys(out) if k]


#: Sequel numbers as titles write them and as people do ("Part II", "Terminator 2").
SEQUEL_NUMBERS = {"ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6"}


def sequel_forms(key: str) -> list[str]:
    """A title key's sequel number the other way round ("the godfather part ii" → "the godfather
    part 2", "the godfather ii", "the godfather 2"; "terminator 2" → "terminator ii"), so that
    "like godfather 2" or "Star Trek 4" find the film. The first word is never a number to turn."""
    parts = key.split(" ")
    digits = {v: k for k, v in SEQUEL_NUMBERS.items()}
    turned = [parts[0], *(SEQUEL_NUMBERS.get(p) or digits.get(p) or p for p in parts[1:])]
    if turned == parts:
        return []
    forms = [" ".join(turned)]
    for i in range(1, len(parts) - 1):
        if parts[i] == "part" and parts[i + 1] in SEQUEL_NUMBERS:  # "part ii" said without "part"
            for number in (parts[i + 1], SEQUEL_NUMBERS[parts[i + 1]]):
                forms.append(" ".join([*parts[:i], number, *parts[i + 2:]]))
    return forms


class _Work:
    """The message as tokens over a joined, normalized string, with 'used' marks."""

    def __init__(self, text: str) -> None:
        self.toks: list[_Tok] = []
        pos = 0
        for t in self.tokenize(text, keep_punct=True):
            self.toks.append(_Tok(t, pos))
            pos += len(t) + 1
        self.joined = " ".join(t.text for t in self.toks)
        self._starts = [t.start for t in self.toks]
        self.why_cues: list[tuple[int, int]] = []  # the words of why-none questions ("why no")
        self.asking: list[tuple[int, int]] = []  # and the tokens each asks about
        self.names: list[tuple[int, int]] = []  # people's names the catalog cannot look up: one phrase each
        # words written capitalized inside a sentence ("not Aliens, I've seen it"): a title's mark
        # where the word is also a subject ("no aliens")
        self.capitalized = {w.lower() for w in re.findall(r"(?<=[a-z,;:] )[A-Z][a-z']+", text)}

    @staticmethod
    def tokenize(text: str, keep_punct: bool = False) -> list[str]:
        norm = normalize(text).replace("\n", " . ").replace("_", " ")
        norm = _IN_WORD.sub(" ", norm)
        raw = _WORDS_OR_MARKS.findall(norm)
        return raw if keep_punct else [t for t in raw if t.isalnum()]

    def tok_range(self, a: int, b: int) -> tuple[int, int]:
        """Token indices [s, e) covering characters [a, b) of the joined string."""
        s = next((i for i, t in enumerate(self.toks) if t.start + len(t.text) > a), len(self.toks))
        e = next((i for i, t in enumerate(self.toks) if t.start >= b), len(self.toks))
        return s, e

    def finditer(self, pattern: str | re.Pattern[str]) -> Iterator[tuple[int, int, re.Match[str]]]:
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        for m in rx.finditer(self.joined):
            if m.end() > m.start():
                s, e = self.tok_range(m.start(), m.end())
                yield s, e, m

    def sentences(self) -> list[tuple[int, int]]:
        out, start = [], 0
        for i, t in enumerate(self.toks):
            if t.text in SENTENCE_BREAKS:
                if i > start:
                    out.append((start, i + 1))
                start = i + 1
        if start < len(self.toks):
            out.append((start, len(self.toks)))
        return out

    def clause_start(self, s: int) -> int:
        j = s
        while j > 0:
            t = self.toks[j - 1].text
            if t in CLAUSE_BREAKS and not (t == "but" and j > 1 and self.toks[j - 2].text in BUT_NEG):
                break
            j -= 1
        return j

    def words_at(self, s: int, n: int) -> tuple[str, ...]:
        return tuple(t.text for t in self.toks[s:s + n]) if s >= 0 else ()

    def find_words(self, key: Sequence[str]) -> tuple[int, int] | None:
        """The first unused token span whose words (punctuation skipped) are `key`, or None."""
        for s, tok in enumerate(self.toks):
            if tok.used or tok.text != key[0]:
                continue
            k, e = 0, s
            while e < len(self.toks) and k < len(key) and not self.toks[e].used:
                if self.toks[e].word:
                    if self.toks[e].text != key[k]:
                        break
                    k += 1
                e += 1
            if k == len(key):
                return s, e
        return None

    def use(self, s: int, e: int) -> None:
        for t in self.toks[s:e]:
            t.used = True

    def any_used(self, s: int, e: int) -> bool:
        return any(t.used for t in self.toks[s:e])

    def span_text(self, s: int, e: int) -> str:
        return " ".join(t.text for t in self.toks[s:e])

    def span_words(self, s: int, e: int) -> str:
        return " ".join(t.text for t in self.toks[s:e] if t.word)
