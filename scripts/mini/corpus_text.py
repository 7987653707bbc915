"""Text of the ttslab-mini corpus: self-written, public domain by construction.

Two sources, both written for this project:
- HANDWRITTEN: a few hundred plain English sentences (everyday topics, questions,
  numbers spelled out, names), written here by hand.
- a seeded generator: templates x word lists (below), which covers many phoneme
  contexts cheaply. Same seed -> same sentences (tested by `python3 corpus_text.py --check`).

`sentences(split, n, seed)` returns n sentences of a split. The splits do not overlap:
'eval' sentences (50 handwritten held-out lines + generated ones from another seed) are
never spoken by a training speaker, whatever the voice.
"""
from __future__ import annotations

import random
import sys

NOUNS = """apple anchor baby badge basket beach bell bench bicycle blanket boat bone book bottle
bread bridge brother brush bucket butter button cabin cake camera candle canoe captain carpet
castle cat chair cheese cherry chicken child circle clock cloud coat coffee coin corner cousin
cow crayon cup curtain daisy desk diamond doctor dog dolphin door dragon drawer dream drum duck
eagle egg elbow engine farmer feather fence field finger fire fish flag flower forest fox
friend frog garden gate ghost giant girl glass glove goat grandmother grape guitar hammer
harbor hat hill horse house island jacket jar jelly jungle kettle key kitchen kite knife
ladder lake lamp lemon letter library lion map market meadow melon mirror monkey moon
mountain mouse needle nest notebook ocean office orange owl painter pencil pepper piano
picture pillow pilot planet plate pocket pony potato puzzle queen rabbit radio rain river
road robot rocket roof rope sailor salad sandwich scarf school shadow sheep shell ship shoe
singer sister soldier spoon squirrel star station stone storm street sugar sweater table
teacher tiger tomato tower town train tree truck turtle umbrella valley village violin
wagon wallet window wizard wolf yard zebra""".split()

ADJECTIVES = """ancient angry bitter black bold brave bright broken busy calm careful cheap clever
cold cozy crooked curious damp dark dusty eager early empty enormous fancy fast fierce
fresh friendly funny gentle giant golden good green happy heavy hollow huge hungry icy
jolly kind large lazy little lonely loud lucky merry modern muddy narrow nervous new
noisy odd old orange pale patient pink plain polite proud purple quick quiet rapid rare
rough round rusty sad salty sharp shiny short silent silly simple sleepy slow small smooth
soft sour spicy steep sticky strange strong sunny sweet tall tender thick thin tidy tiny
tired true ugly warm wet white wide wild wise wooden yellow young""".split()

VERBS_PAST = """admired answered baked borrowed bought built buried carried cleaned climbed
collected cooked counted covered crossed dropped dug drew fixed folded found followed
grabbed guarded helped hid juggled kicked lifted lost moved noticed opened packed painted
passed picked pulled pushed raced reached repaired rescued returned rolled sold shared
showed spotted stacked stole swept touched traded visited washed watched weighed wrapped""".split()

VERBS_BASE = """bake borrow build carry catch clean climb collect cook count cover cross draw
drive find fix fold follow help hide hold kick lift move open pack paint pass pick pull
push reach read repair return roll sell share show sing sketch sort stack sweep touch
trade visit wash watch weigh wrap""".split()

ADVERBS = """always barely boldly bravely briefly calmly carefully cheerfully clearly
eagerly early easily finally gently gladly happily honestly kindly lately loudly
nearly neatly never often politely quickly quietly rarely sadly seldom slowly softly
suddenly swiftly today tomorrow warmly wisely yesterday""".split()

NAMES = """Adam Alice Amelia Arthur Bella Benjamin Carlos Chloe Daniel Diana Edward Elena
Felix Fiona George Grace Hannah Henry Isaac Ivy Jack Julia Kevin Laura Leo Lucy Martin
Maya Nathan Nora Oliver Olivia Peter Priya Quentin Rachel Robert Rosa Samuel Sophie
Thomas Tina Victor Wendy William Yusuf Zoe""".split()

PLACES = ["the bakery", "the beach", "the city", "the forest", "the garden", "the harbor", "the hospital",
          "the island", "the kitchen", "the library", "the market", "the meadow", "the museum", "the park",
          "the river", "the school", "the station", "the village", "the valley", "the zoo"]

PREPS = "across along behind beside beyond inside near over past through toward under".split()
COLORS = "red blue green yellow purple orange black white brown grey silver golden".split()
NUMBERS = """one two three four five six seven eight nine ten eleven twelve thirteen fifteen
twenty thirty forty fifty sixty a hundred""".split()
TIMES = ["in the morning", "at noon", "in the afternoon", "in the evening", "at night", "on Monday",
         "on Tuesday", "on Wednesday", "on Thursday", "on Friday", "on Saturday", "on Sunday",
         "last week", "next year", "every day", "before dinner", "after lunch", "at dawn"]

TEMPLATES = [
    "The {adj} {noun} {vpast} the {noun2} {prep} {place}.",
    "{name} {vpast} a {adj} {noun} {time}.",
    "Did {name} really {vbase} the {adj} {noun}?",
    "Please {vbase} the {noun} before {name} comes home.",
    "{Number} {adj} {noun}s waited {prep} the {noun2}.",
    "My {noun} is {adj}, but your {noun2} is {adj2}.",
    "We {adv} {vpast} the {color} {noun} {time}.",
    "Why is the {noun} so {adj} {time}?",
    "{name} and {name2} {vpast} {number} {noun}s at {place2}.",
    "If the {noun} is {adj}, {vbase} it {adv}.",
    "Nobody {vpast} the {adj} {noun} except {name}.",
    "There were {number} {color} {noun}s {prep} {place}.",
    "How many {noun}s did {name} {vbase} {time}?",
    "The {noun} {prep} {place} looked {adj} and {adj2}.",
    "{name} said that the {noun} was {adj}.",
    "Could you {vbase} my {adj} {noun}, please?",
    "What a {adj} {noun} that was!",
    "After the storm, {name} {vpast} the {noun} {adv}.",
    "I think the {color} {noun} belongs to {name}.",
    "{Time}, the {adj} {noun} {vpast} a {noun2}.",
]

# Written by hand for this corpus. The first EVAL_HANDWRITTEN lines are held out (evaluation).
HANDWRITTEN = """
The kettle whistled while we waited for the rain to stop.
Please close the window before the cold air gets in.
My grandmother keeps her buttons in an old tin box.
We missed the last train, so we walked home along the canal.
How much does a ticket to the coast cost these days?
The children built a fort out of cushions and blankets.
He forgot his umbrella again, and the sky turned grey.
Turn left at the bakery, then follow the river for a mile.
She painted the fence bright yellow on a Sunday afternoon.
Our neighbour plays the trumpet every evening at seven.
The museum opens at ten and closes at half past five.
Can you hear the birds singing in the hedge?
I would like a cup of tea with milk and no sugar.
The bus was late because of the roadworks on the bridge.
A small brown dog chased the pigeons across the square.
They planted thirty tulips along the garden path.
Nobody knew who had left the parcel on the doorstep.
Put the heavy boxes on the bottom shelf.
The library has a quiet room for people who want to study.
Thunder rolled over the hills long after the lightning.
Why does the clock in the hall always run slow?
We cooked soup with carrots, onions and a little pepper.
The pilot announced that we would land in twenty minutes.
My brother learned to juggle with three oranges.
The lighthouse flashed twice every ten seconds.
Remember to water the plants while I am away.
The baker sold out of bread before nine in the morning.
An owl hooted somewhere in the dark wood.
She counted the coins twice and still found one missing.
The river froze so hard that we could skate on it.
Which road leads to the old stone church?
The cat slept on the warm roof of the car.
We need eggs, flour, butter and a pinch of salt.
He spoke so softly that nobody in the back could hear him.
The orchestra tuned their instruments before the concert.
Six swans glided past the boat without a sound.
The new teacher wrote her name on the board.
Is this the right platform for the northern train?
A gust of wind blew the papers off the desk.
The farmer fixed the gate with a length of wire.
We watched the sun rise over the misty valley.
Thank you for the lovely flowers and the kind card.
The radio played an old song about the sea.
Her shoes squeaked on the polished floor.
The market smells of fresh herbs and ripe peaches.
Every morning he jogs twice around the park.
The tower clock struck twelve as they reached the gate.
Could you spell your surname for me, please?
The puppy chewed a hole in my favourite sock.
At the end of the road there is a little blue cottage.
The fox slipped under the fence and vanished.
I left my keys on the kitchen table this morning.
The captain ordered the crew to lower the sails.
We sheltered under a bridge until the storm passed.
Grandfather tells the same story every winter.
The soup is too hot, so let it cool for a minute.
Mountains rise sharply behind the sleepy village.
The engine coughed twice and then started.
She keeps a diary of the weather in a green notebook.
Two hundred people came to the opening of the bridge.
The students laughed at the teacher's terrible joke.
Please speak a little more slowly.
A yellow kite was stuck in the branches of the oak.
The shop on the corner sells newspapers and sweets.
He tripped over the dog and spilled his coffee.
The bells rang out across the frozen fields.
Our flight was delayed by three hours.
The doctor asked him to take a deep breath.
I can never remember where I parked the car.
The moon was so bright that we could read outside.
They sailed to the island in a small wooden boat.
The recipe calls for two cups of rice.
The wind howled through the gaps in the old barn.
My sister collects stamps from every country she visits.
The baby giggled when the dog licked her toes.
We painted the kitchen a pale shade of green.
Where did you buy that wonderful hat?
The queue for the ferry stretched along the harbour wall.
He whistled a tune as he swept the yard.
The apples in the orchard are almost ripe.
Lock the door and switch off the lights when you leave.
The parrot repeated everything the visitors said.
Snow covered the roofs of the sleeping town.
The engineer checked every bolt on the old bridge.
Fresh bread is best with butter and honey.
The hikers reached the summit just before noon.
A violin played softly in the room upstairs.
We had pancakes for breakfast on my birthday.
The goalkeeper caught the ball with one hand.
The museum guard asked us not to touch the paintings.
She found a silver ring buried in the sand.
Our train leaves from platform four at six fifteen.
The ducks waddled across the road in a neat line.
His voice echoed in the empty hall.
I borrowed a ladder to reach the top shelf.
The storm knocked down three trees on our street.
Write your answer clearly in the box below.
The fire crackled while the soup simmered on the stove.
A tiny spider spun its web in the corner of the window.
We should leave early to avoid the traffic.
The old map showed a path through the marsh.
Mother baked a cherry pie for the village fair.
The actors bowed as the curtain came down.
Quiet streets are lovely on a summer evening.
The gardener raked the leaves into a tall pile.
My phone battery died in the middle of the call.
The children lined up at the ice cream van.
He hung his wet coat by the fire to dry.
The sailors sang as they pulled the heavy ropes.
The hotel has a view of the lake and the mountains.
You can borrow my bicycle if you promise to bring it back.
A black cat crossed the lane in front of us.
The waiter brought us bread, olives and water.
I heard a knock at the door just after midnight.
The fisherman mended his nets on the quay.
Our team won the match by a single point.
The scientist measured the water every hour.
Please pass the salt and the pepper.
The road winds up the hill past an old mill.
She whispered the answer so nobody else could hear.
The robot vacuum bumped into the chair again.
We are going camping by the lake next weekend.
The pianist played a gentle waltz.
Leaves of red and gold drifted onto the path.
The shopkeeper wrapped the vase in brown paper.
Can you help me carry these bags upstairs?
The museum has a dinosaur skeleton in the main hall.
Rain drummed on the tin roof all night long.
The twins wore matching scarves to school.
He sharpened his pencil and began to draw.
A flock of geese flew south in a long line.
The soup needs a little more salt, I think.
The clock on the mantelpiece stopped at three.
We hid the presents under the bed.
The pond was full of frogs and water lilies.
The cyclist rang her bell as she passed.
My uncle drives a bright red tractor.
The teacher read us a story about a clever fox.
Bring a warm jumper, because the evenings are chilly.
The cargo ship sounded its horn in the fog.
I cannot find the lid of this jar.
The squirrel buried nuts all over the lawn.
The choir practised the same song for an hour.
""".strip().splitlines()

EVAL_HANDWRITTEN = 50


def _fill(template: str, rng: random.Random) -> str:
    pick = rng.choice
    noun, noun2 = rng.sample(NOUNS, 2)
    adj, adj2 = rng.sample(ADJECTIVES, 2)
    name, name2 = rng.sample(NAMES, 2)
    number = pick(NUMBERS)
    time = pick(TIMES)
    s = template.format(
        adj=adj, adj2=adj2, noun=noun, noun2=noun2, vpast=pick(VERBS_PAST), vbase=pick(VERBS_BASE), adv=pick(ADVERBS),
        name=name, name2=name2, place=pick(PLACES), place2=pick(PLACES), prep=pick(PREPS), color=pick(COLORS),
        number=number, Number=number[0].upper() + number[1:], time=time, Time=time[0].upper() + time[1:],
    )
    return s.replace(" a a", " an a").replace(" a e", " an e").replace(" a i", " an i").replace(" a o", " an o").replace(" a u", " an u")


def generated(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out, seen = [], set()
    while len(out) < n:
        s = _fill(rng.choice(TEMPLATES), rng)
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


TRAIN_SEED = 1
EVAL_SEED = 2


def sentences(split: str, n: int) -> list[str]:
    """n sentences of `split` ('train' or 'eval'); eval never overlaps train."""
    if split == 'eval':
        hand = HANDWRITTEN[:EVAL_HANDWRITTEN]
        pool = hand + generated(max(0, n - len(hand)), EVAL_SEED)
        return pool[:n]
    if split != 'train':
        raise ValueError(f"split must be 'train' or 'eval', got {split!r}")
    held = set(sentences('eval', max(n, 200)))
    hand = HANDWRITTEN[EVAL_HANDWRITTEN:]
    gen = [s for s in generated(n + len(held), TRAIN_SEED) if s not in held]
    pool = hand + gen
    return pool[:n]


if __name__ == '__main__':
    if '--check' in sys.argv:
        a, b = sentences('train', 3000), sentences('eval', 200)
        assert a == sentences('train', 3000), 'train sentences are not reproducible'
        assert not set(a) & set(b), 'train and eval overlap'
        print(f'ok: {len(a)} train, {len(b)} eval, {len(HANDWRITTEN)} handwritten; e.g. {a[200]!r} / {b[60]!r}')
    else:
        for s in sentences(sys.argv[1] if len(sys.argv) > 1 else 'train', int(sys.argv[2]) if len(sys.argv) > 2 else 20):
            print(s)
