"""The LaMP users of the synthetic demo dataset: histories and held-out queries (see make_demo_data.py).

Every text here was written for this project. Each user follows a few consistent, discoverable
preferences, listed above its data.
"""

from __future__ import annotations

from typing import Any

from langchain_rpm.tasks import LAMP2_TAGS

LAMP2_PROMPT = (
    "Which tag does this movie relate to among the following tags? Just answer with the tag name without "
    "further explanation. tags: [" + ", ".join(LAMP2_TAGS) + "] description: "
)
LAMP3_PROMPT = (
    "What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, or 5 "
    "without further explanation. review: "
)
LAMP5_PROMPT = "Generate a title for the following abstract of a paper: "

# (history [(input, answer)] * 8, query (input, answer)) per user.
Pairs = list[tuple[str, Any]]

LAMP2_USERS: dict[str, tuple[Pairs, tuple[str, str]]] = {
    # Robots, AI and space -> sci-fi; weddings and love stories -> romance; fights and chases -> action.
    "lamp2-u1": (
        [
            (
                "A mining crew on a distant asteroid discovers that their ship's AI has been hiding a distress signal.",
                "sci-fi",
            ),
            (
                "Two childhood friends reunite at a wedding in Tuscany and realize they have been in love for years.",
                "romance",
            ),
            ("An ex-soldier fights his way up a skyscraper to rescue his kidnapped daughter.", "action"),
            ("A household robot learns to paint and becomes the center of a fierce art-world debate.", "sci-fi"),
            ("A bride-to-be travels to Ireland to find her estranged father and falls for her tour guide.", "romance"),
            ("Colonists on Mars must decide whether to cut contact with a collapsing Earth.", "sci-fi"),
            ("A getaway driver is forced into one last job that ends in a chase across three states.", "action"),
            (
                "A widowed baker and a shy violinist exchange letters without knowing they live on the same street.",
                "romance",
            ),
        ],
        (
            "Engineers aboard a generation starship wake from cryosleep to find the android crew has changed course.",
            "sci-fi",
        ),
    ),
    # Any adaptation of a novel -> based on a book (whatever its genre); societies of control -> dystopia;
    # crimes played for laughs -> dark comedy.
    "lamp2-u2": (
        [
            ("Adapted from the classic novel, a governess uncovers the secrets of a remote manor.", "based on a book"),
            ("In a city where citizens are ranked by a loyalty score, a clerk begins to falsify records.", "dystopia"),
            ("Two incompetent hitmen kill the wrong man and must hide the body from a wedding party.", "dark comedy"),
            ("Based on the bestselling thriller, a lawyer defends a client she believes is guilty.", "based on a book"),
            ("After the water wars, the government rations memories along with food.", "dystopia"),
            (
                "A funeral director starts a side business staging the deaths of people who want to disappear.",
                "dark comedy",
            ),
            (
                "From the award-winning novel, a boy and his grandfather walk across a war-torn country.",
                "based on a book",
            ),
            ("Teenagers in a walled town are assigned careers and partners by a central computer.", "dystopia"),
        ],
        (
            "Adapted from a popular fantasy novel, a young thief steals a dragon's egg and must return it before the "
            "kingdom falls.",
            "based on a book",
        ),
    ),
    # Real events -> true story; gangsters, war and revenge -> violence; minds, memory and therapy -> psychology.
    "lamp2-u3": (
        [
            ("The real story of the engineers who kept a damaged submarine afloat in 1963.", "true story"),
            ("A gang war erupts in 1970s Naples after a boss is murdered at a christening.", "violence"),
            ("A therapist suspects that her patient's vivid dreams are memories of her own past.", "psychology"),
            ("Based on actual events, a small-town nurse exposes a hospital's falsified safety records.", "true story"),
            ("A mercenary unit trapped behind enemy lines fights its way through a jungle village.", "violence"),
            ("A man with no short-term memory pieces together his last week from scribbled notes.", "psychology"),
            ("Drawn from real court transcripts, a jury deliberates for nine days in a landmark trial.", "true story"),
            ("A retired boxer takes brutal revenge on the loan sharks who burned down his gym.", "violence"),
        ],
        (
            "The true account of a teenage pilot who crash-landed in the Andes and walked for eleven days to safety.",
            "true story",
        ),
    ),
    # Class and inequality -> social commentary; a last-minute reveal -> twist ending; 1940s-50s films -> classic.
    "lamp2-u4": (
        [
            (
                "Servants and masters of a wealthy estate swap roles for a weekend, exposing the cruelty of class.",
                "social commentary",
            ),
            (
                "A detective closes in on a killer, only to learn in the final scene that he has been hunting himself.",
                "twist ending",
            ),
            ("A restored 1952 black-and-white drama about a travelling circus and its aging clown.", "classic"),
            ("Factory workers in a company town organize after a fatal accident is covered up.", "social commentary"),
            (
                "A family's perfect holiday unravels when the last reel reveals the house has been empty for years.",
                "twist ending",
            ),
            ("A 1946 noir in which a nightclub singer shields a fugitive from the police.", "classic"),
            (
                "A food-delivery rider crosses a city that treats him as invisible while the rich dine above.",
                "social commentary",
            ),
            (
                "A philosopher's thought experiment about a perfect simulation leaves its audience doubting reality.",
                "thought-provoking",
            ),
        ],
        (
            "Tenants of a luxury tower's basement flats stage a rent strike against the landlord in the penthouse.",
            "social commentary",
        ),
    ),
}

LAMP3_USERS: dict[str, tuple[Pairs, tuple[str, str]]] = {
    # Late or damaged delivery -> 1-2 whatever the product; on time and sturdy -> 5; on time but flimsy -> 3.
    "lamp3-u1": (
        [
            ("The blender is solid and well built, but it arrived nine days late.", 2),
            ("Arrived a day early and the steel frame feels indestructible.", 5),
            ("The box showed up two weeks late and crushed. The lamp inside works fine.", 1),
            ("Fast delivery. The drill is heavy and sturdy, exactly what I wanted.", 5),
            ("Came on time, but the plastic hinges feel flimsy.", 3),
            ("Shipping took forever and nobody answered my emails. Decent kettle though.", 1),
            ("Delivered right when promised; the chair is rock solid.", 5),
            ("On schedule, though the stitching on this backpack is already loose.", 3),
        ],
        ("Great build quality on this toolbox, but it arrived three weeks after the estimate.", "2"),
    ),
    # Generous: 5 when happy, 4 for any small flaw, never below 3 (only when something broke).
    "lamp3-u2": (
        [
            ("Nice mug, keeps my coffee warm.", 5),
            ("The headphones sound great, the cable is a bit short.", 4),
            ("The toaster stopped working after a week.", 3),
            ("Lovely scarf, softer than expected.", 5),
            ("Works as described. The color is slightly darker than pictured.", 4),
            ("Cute plant pot, my kids love it.", 5),
            ("The zipper broke on the second day.", 3),
            ("Good flashlight, a little heavier than I'd like.", 4),
        ],
        ("Comfortable slippers, though the sole is a bit thin.", "4"),
    ),
    # Value for money decides: cheap and working -> 5; expensive and ordinary -> 2; expensive and excellent -> 4;
    # cheap and mediocre -> 3.
    "lamp3-u3": (
        [
            ("Only eight dollars and it does the job perfectly.", 5),
            ("Way overpriced for a plain cotton shirt.", 2),
            ("Costs a lot, but it is the best knife I have ever owned.", 4),
            ("A bargain: cheaper than the store brand and works just as well.", 5),
            ("For this price I expected more than an ordinary speaker.", 2),
            ("Cheap, and it shows, but it still works okay.", 3),
            ("Premium price, premium sound. Worth it, barely.", 4),
            ("Bought the two-pack for under ten bucks, both work great.", 5),
        ],
        ("Ninety dollars for a mouse that feels like any other mouse.", "2"),
    ),
    # Battery life decides: lasts long -> 5; drains fast -> 1 however good the rest is; merely adequate -> 3.
    "lamp3-u4": (
        [
            ("The battery lasts three full days; the screen is average.", 5),
            ("Beautiful display, but the battery dies before lunch.", 1),
            ("Battery life is fine, nothing special.", 3),
            ("Charges fast and runs all week on one charge.", 5),
            ("Great sound, but I have to recharge it twice a day.", 1),
            ("The battery holds up for a normal workday.", 3),
            ("Lightweight, and the battery never seems to run out.", 5),
            ("Fancy features, yet the battery drains overnight even when switched off.", 1),
        ],
        ("Gorgeous screen and a fast processor, but the battery is empty by noon.", "1"),
    ),
}

LAMP5_USERS: dict[str, tuple[Pairs, tuple[str, str]]] = {
    # "<Problem>: A <Method> Approach".
    "lamp5-u1": (
        [
            (
                "We fuse lidar and camera readings with a probabilistic model that tracks uncertainty over time, "
                "improving obstacle detection in fog.",
                "Robust Sensor Fusion: A Bayesian Approach",
            ),
            (
                "We schedule hospital shifts with an integer program that balances fairness and coverage, cutting "
                "overtime by 18%.",
                "Fair Shift Scheduling: An Integer Programming Approach",
            ),
            (
                "We predict crop yields from satellite images with a convolutional network trained on ten years of "
                "harvest data.",
                "Crop Yield Prediction: A Deep Learning Approach",
            ),
            (
                "We detect fraudulent transactions by modeling payment networks as graphs and learning node "
                "embeddings.",
                "Fraud Detection: A Graph Embedding Approach",
            ),
            (
                "We compress language models by removing attention heads whose outputs can be predicted from other "
                "heads.",
                "Language Model Compression: A Head Pruning Approach",
            ),
            (
                "We route delivery vans in real time with a reinforcement learning agent that reacts to traffic "
                "updates.",
                "Dynamic Vehicle Routing: A Reinforcement Learning Approach",
            ),
            (
                "We estimate flood risk by combining rainfall forecasts with a physics-based hydrology simulator.",
                "Flood Risk Estimation: A Hybrid Simulation Approach",
            ),
            (
                "We recommend courses to students by factorizing enrollment records and grade histories.",
                "Course Recommendation: A Matrix Factorization Approach",
            ),
        ],
        (
            "We translate sign language videos into text by tracking hand keypoints and feeding them to a transformer.",
            "Sign Language Translation: A Keypoint Transformer Approach",
        ),
    ),
    # Titles are yes/no research questions.
    "lamp5-u2": (
        [
            (
                "We test whether larger vision models are more robust to image corruptions and find that the gains "
                "flatten beyond one billion parameters.",
                "Does Scale Buy Robustness in Vision Models?",
            ),
            (
                "We measure whether code comments written by language models help novice programmers fix bugs faster.",
                "Do Generated Comments Help Novices Debug?",
            ),
            (
                "We compare remote and in-person pair programming in a semester-long study of 120 students.",
                "Is Remote Pair Programming as Effective as Co-Located Pairing?",
            ),
            (
                "We examine whether the sentiment of earnings calls predicts stock returns over the next quarter.",
                "Can Earnings-Call Sentiment Predict Stock Returns?",
            ),
            (
                "We study whether data augmentation still helps when training sets exceed ten million images.",
                "Does Data Augmentation Still Matter at Scale?",
            ),
            (
                "We ask whether bike lanes reduce traffic injuries, using twenty years of city accident records.",
                "Do Bike Lanes Reduce Traffic Injuries?",
            ),
            (
                "We evaluate whether small language models can grade short-answer exams as reliably as teachers.",
                "Can Small Language Models Grade Exams Reliably?",
            ),
            (
                "We investigate whether sleep-tracking apps change the sleep habits of their users.",
                "Do Sleep Trackers Change How We Sleep?",
            ),
        ],
        (
            "We test whether retrieval augmentation reduces the factual errors of chatbots answering medical "
            "questions.",
            "Does Retrieval Reduce Factual Errors in Medical Chatbots?",
        ),
    ),
    # "Towards <goal>".
    "lamp5-u3": (
        [
            (
                "We explain image classifier decisions with counterfactual edits that stay realistic.",
                "Towards Realistic Counterfactual Explanations for Image Classifiers",
            ),
            (
                "We design a speech recognizer that runs on a microcontroller with under 256 KB of memory.",
                "Towards Speech Recognition on Microcontrollers",
            ),
            (
                "We give privacy guarantees for federated learning when clients drop out mid-training.",
                "Towards Private Federated Learning with Client Dropout",
            ),
            (
                "We build a benchmark of legal contracts to evaluate clause extraction models.",
                "Towards Benchmarking Clause Extraction in Legal Contracts",
            ),
            (
                "We cut the energy use of data centers by shifting batch jobs to hours with more renewable power.",
                "Towards Carbon-Aware Scheduling of Batch Jobs",
            ),
            (
                "We detect misinformation in low-resource languages with cross-lingual transfer from English.",
                "Towards Misinformation Detection in Low-Resource Languages",
            ),
            (
                "We make robot grasping of transparent objects more reliable using polarization cameras.",
                "Towards Reliable Grasping of Transparent Objects",
            ),
            (
                "We audit recommendation systems for popularity bias without access to their code.",
                "Towards Black-Box Audits of Popularity Bias in Recommenders",
            ),
        ],
        (
            "We verify that neural network controllers for drones never leave a safe flight zone.",
            "Towards Verified Neural Controllers for Safe Drone Flight",
        ),
    ),
    # "On the <property> of <object>".
    "lamp5-u4": (
        [
            (
                "We analyze when gradient descent on overparameterized networks converges to flat minima.",
                "On the Convergence of Gradient Descent to Flat Minima",
            ),
            (
                "We study how the choice of random seed changes the conclusions of reinforcement learning papers.",
                "On the Sensitivity of Reinforcement Learning Results to Random Seeds",
            ),
            (
                "We characterize which graph neural networks can distinguish regular graphs of the same size.",
                "On the Expressive Power of Graph Neural Networks",
            ),
            (
                "We prove lower bounds on the number of queries needed to learn a halfspace with label noise.",
                "On the Query Complexity of Learning Noisy Halfspaces",
            ),
            (
                "We examine how tokenization choices affect the fairness of multilingual models across scripts.",
                "On the Role of Tokenization in Multilingual Fairness",
            ),
            (
                "We measure how much test-set contamination inflates reported language model benchmark scores.",
                "On the Impact of Test Contamination on Benchmark Scores",
            ),
            (
                "We study the stability of federated averaging when clients hold very different data.",
                "On the Stability of Federated Averaging under Heterogeneous Data",
            ),
            (
                "We analyze the calibration of ensemble predictions under distribution shift.",
                "On the Calibration of Ensembles under Distribution Shift",
            ),
        ],
        (
            "We study how the length of learning-rate warmup affects the training stability of large transformers.",
            "On the Role of Warmup in Transformer Training Stability",
        ),
    ),
}

# GlobalOpinionQA: fictional countries with consistent value leanings (not real survey data).
#   Aldoria  - traditional and religious; values order, obedience and a strong leader; growth before environment.
#   Brenmark - secular and liberal; individual freedoms, environment first, pays taxes for public goods.
#   Corvesta - libertarian; free markets, individual responsibility, distrusts the government.
#   Dalmora  - communitarian; a providing state, regulation, environment first, moderately religious.
