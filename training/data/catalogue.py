"""Vocabulary of the synthetic catalogue: product types, brands, devices, ingredients.

Plain data plus lookups. It states which facts a product type can carry, which types
substitute for or complement each other, which devices an accessory can fit and which
brands are cheaper than which. It does not generate queries, render titles or assign labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# ---------------------------------------------------------------- ingredients


@dataclass(frozen=True)
class Ingredient:
    """Something a query can negate ("shampoo without sulfates", "sugar free gummies")."""

    key: str
    plural: str  # "shampoo without {plural}"
    free: str  # "{free} shampoo" in queries, lower case
    free_labels: tuple[str, ...]  # how a title or attribute says the product lacks it
    markers: tuple[str, ...]  # ingredient-list names meaning the product contains it
    contains_labels: tuple[str, ...] = ()  # how a title may say the product has it


INGREDIENTS: dict[str, Ingredient] = {
    i.key: i
    for i in (
        Ingredient(
            "sulfate",
            "sulfates",
            "sulfate free",
            ("Sulfate Free", "Sulfate-Free", "SLS Free"),
            ("sodium lauryl sulfate", "sodium laureth sulfate", "ammonium lauryl sulfate"),
        ),
        Ingredient(
            "paraben",
            "parabens",
            "paraben free",
            ("Paraben Free", "Paraben-Free", "No Parabens"),
            ("methylparaben", "propylparaben", "butylparaben"),
        ),
        Ingredient(
            "silicone",
            "silicones",
            "silicone free",
            ("Silicone Free", "No Silicones"),
            ("dimethicone", "amodimethicone", "cyclopentasiloxane"),
        ),
        Ingredient(
            "fragrance",
            "fragrance",
            "fragrance free",
            ("Fragrance Free", "Unscented"),
            ("fragrance (parfum)", "parfum"),
            ("Scented",),
        ),
        Ingredient(
            "aluminum",
            "aluminum",
            "aluminum free",
            ("Aluminum Free", "Aluminum-Free"),
            ("aluminum zirconium tetrachlorohydrex gly", "aluminum chlorohydrate"),
            ("Antiperspirant",),
        ),
        Ingredient(
            "fluoride",
            "fluoride",
            "fluoride free",
            ("Fluoride Free", "Fluoride-Free"),
            ("sodium fluoride", "stannous fluoride", "sodium monofluorophosphate"),
            ("with Fluoride", "Fluoride Anticavity"),
        ),
        Ingredient(
            "alcohol",
            "alcohol",
            "alcohol free",
            ("Alcohol Free", "Alcohol-Free", "Zero Alcohol"),
            ("alcohol (21.6%)", "ethyl alcohol", "alcohol denat."),
        ),
        Ingredient(
            "sugar",
            "sugar",
            "sugar free",
            ("Sugar Free", "Zero Sugar", "No Sugar Added"),
            ("sugar", "cane sugar", "corn syrup", "glucose syrup"),
            ("Made with Real Sugar",),
        ),
        Ingredient(
            "gelatin",
            "gelatin",
            "gelatin free",
            ("Gelatin Free", "Vegan, No Gelatin"),
            ("gelatin", "pork gelatin", "beef gelatin"),
        ),
        Ingredient(
            "gluten",
            "gluten",
            "gluten free",
            ("Gluten Free", "Certified Gluten-Free"),
            ("wheat flour", "barley malt", "wheat gluten"),
        ),
        Ingredient(
            "dairy",
            "dairy",
            "dairy free",
            ("Dairy Free", "Non-Dairy"),
            ("milk protein isolate", "whey protein concentrate", "nonfat milk"),
        ),
        Ingredient(
            "caffeine",
            "caffeine",
            "caffeine free",
            ("Caffeine Free", "Decaf", "Decaffeinated"),
            ("caffeine (160 mg)", "caffeine (200 mg)", "natural caffeine from green coffee"),
            ("Caffeinated", "Extra Caffeine"),
        ),
        Ingredient(
            "bpa",
            "bpa",
            "bpa free",
            ("BPA Free", "BPA-Free"),
            ("polycarbonate (contains bpa)", "bpa-containing polycarbonate"),
        ),
        Ingredient(
            "ptfe",
            "ptfe",
            "ptfe free",
            ("PTFE Free", "PTFE & PFOA Free", "Non-Toxic PTFE Free"),
            ("ptfe nonstick coating", "ptfe (teflon) coating"),
            ("PTFE Nonstick Coating",),
        ),
    )
}

# ---------------------------------------------------------------- devices


@dataclass(frozen=True)
class Device:
    """A phone, laptop, printer or ink-cartridge line that accessories fit.

    ``fits`` maps an accessory type to the fit group this device belongs to: two devices in
    the same group take the same accessory (iPhone 7, 8 and SE 2020 share cases).
    ``sellable`` is False for cartridge lines, which are names, not products.
    """

    key: str  # query form, lower case: "iphone 8"
    name: str  # title form: "iPhone 8"
    kind: str  # "phone" | "laptop" | "printer"
    brand: str
    fits: dict[str, str] = field(default_factory=dict)
    sellable: bool = True
    screen: str = ""


def _phone(key: str, name: str, brand: str, case: str, plug: str, qi: bool, screen: str) -> Device:
    fits = {"phone case": case, "screen protector": case, "charging cable": plug}
    if qi:
        fits["wireless charger"] = "qi"
    return Device(key, name, "phone", brand, fits, screen=screen)


DEVICES: dict[str, Device] = {
    d.key: d
    for d in (
        _phone("iphone 7", "iPhone 7", "Apple", "ip78se", "lightning", False, "4.7 inch"),
        _phone("iphone 8", "iPhone 8", "Apple", "ip78se", "lightning", True, "4.7 inch"),
        _phone("iphone se 2020", "iPhone SE 2020", "Apple", "ip78se", "lightning", True, "4.7 inch"),
        _phone("iphone 11", "iPhone 11", "Apple", "ip11", "lightning", True, "6.1 inch"),
        _phone("iphone 12", "iPhone 12", "Apple", "ip12", "lightning", True, "6.1 inch"),
        _phone("iphone 12 pro", "iPhone 12 Pro", "Apple", "ip12", "lightning", True, "6.1 inch"),
        _phone("iphone 13", "iPhone 13", "Apple", "ip13", "lightning", True, "6.1 inch"),
        _phone("iphone 13 pro", "iPhone 13 Pro", "Apple", "ip13pro", "lightning", True, "6.1 inch"),
        _phone("iphone 13 mini", "iPhone 13 Mini", "Apple", "ip13mini", "lightning", True, "5.4 inch"),
        _phone("galaxy s10", "Galaxy S10", "Samsung", "s10", "usb-c", True, "6.1 inch"),
        _phone("galaxy s21", "Galaxy S21", "Samsung", "s21", "usb-c", True, "6.2 inch"),
        _phone("galaxy s22", "Galaxy S22", "Samsung", "s22", "usb-c", True, "6.1 inch"),
        _phone("pixel 6", "Pixel 6", "Google", "p6", "usb-c", True, "6.4 inch"),
        _phone("pixel 7", "Pixel 7", "Google", "p7", "usb-c", True, "6.3 inch"),
        Device(
            "macbook pro 2019",
            "MacBook Pro 13 2019",
            "laptop",
            "Apple",
            {"laptop charger": "usbc-pd", "laptop sleeve": "13in"},
            screen="13.3 inch",
        ),
        Device(
            "macbook air m1",
            "MacBook Air M1",
            "laptop",
            "Apple",
            {"laptop charger": "usbc-pd", "laptop sleeve": "13in"},
            screen="13.3 inch",
        ),
        Device(
            "dell xps 13",
            "Dell XPS 13",
            "laptop",
            "Dell",
            {"laptop charger": "usbc-pd", "laptop sleeve": "13in"},
            screen="13.4 inch",
        ),
        Device(
            "hp pavilion 15",
            "HP Pavilion 15",
            "laptop",
            "HP",
            {"laptop charger": "hp-smart", "laptop sleeve": "15in"},
            screen="15.6 inch",
        ),
        Device(
            "thinkpad t480",
            "ThinkPad T480",
            "laptop",
            "Lenovo",
            {"laptop charger": "lenovo-tip", "laptop sleeve": "14in"},
            screen="14 inch",
        ),
        Device("hp officejet pro 8710", "HP OfficeJet Pro 8710", "printer", "HP", {"ink cartridge": "hp952"}),
        Device("hp officejet pro 8720", "HP OfficeJet Pro 8720", "printer", "HP", {"ink cartridge": "hp952"}),
        Device("hp envy 6055", "HP Envy 6055", "printer", "HP", {"ink cartridge": "hp67"}),
        Device("hp deskjet 2755", "HP DeskJet 2755", "printer", "HP", {"ink cartridge": "hp67"}),
        Device("canon pixma ts3320", "Canon PIXMA TS3320", "printer", "Canon", {"ink cartridge": "pg243"}),
        Device("epson workforce wf-2850", "Epson WorkForce WF-2850", "printer", "Epson", {"ink cartridge": "epson212"}),
        Device("hp 952", "HP 952", "printer", "HP", {"ink cartridge": "hp952"}, sellable=False),
        Device("hp 67", "HP 67", "printer", "HP", {"ink cartridge": "hp67"}, sellable=False),
        Device("canon pg-243", "Canon PG-243", "printer", "Canon", {"ink cartridge": "pg243"}, sellable=False),
        Device("epson 212", "Epson 212", "printer", "Epson", {"ink cartridge": "epson212"}, sellable=False),
    )
}


def fit_group(accessory: str, group: str) -> tuple[str, ...]:
    """Keys of every device an accessory of fit ``group`` fits, in catalogue order."""
    return tuple(d.key for d in DEVICES.values() if d.fits.get(accessory) == group)


def devices_for(accessory: str) -> tuple[Device, ...]:
    """Devices that some ``accessory`` fits (query targets for a compatibility query)."""
    return tuple(d for d in DEVICES.values() if accessory in d.fits)


# ---------------------------------------------------------------- brands and types


@dataclass(frozen=True)
class Brand:
    name: str
    tier: int  # 1 budget, 2 mid-range, 3 premium


def _brands(spec: str) -> tuple[Brand, ...]:
    """ "Pantene:2, Dove:2" → Brand tuple."""
    out = []
    for piece in spec.split(","):
        name, _, tier = piece.strip().rpartition(":")
        out.append(Brand(name.strip(), int(tier)))
    return tuple(out)


# Marketplace-style house brands (invented), always budget tier.
HOUSE_BRANDS: tuple[str, ...] = (
    "YOFOKA",
    "Kiwidea",
    "LORVEK",
    "Zafoly",
    "MIBOTE",
    "Qixuan",
    "bejoey",
    "Yosoo",
    "TOPLUS",
    "Grefay",
    "VANLUXE",
    "Hosmoy",
    "ZENKII",
    "Aiyoda",
    "Lumtok",
    "SUNAVO",
    "Tecboss",
    "Ovrenk",
)


@dataclass(frozen=True)
class ProductType:
    """One kind of product and what can be said about it.

    ``facts`` lists the attribute values a product of this type can state; ``query`` the
    ways a shopper names it (with facts the name implies: "aa batteries" → size AA).
    """

    key: str
    category: tuple[str, ...]
    nouns: tuple[str, ...]
    query: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
    keywords: tuple[str, ...]
    brands: tuple[Brand, ...]
    facts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    ingredients: tuple[str, ...] = ()
    base_ingredients: tuple[str, ...] = ()
    packs: tuple[int, ...] = ()
    units: tuple[str, ...] = ()
    fits: str = ""  # accessory type key in Device.fits ("phone case"), "" when not an accessory
    device_kind: str = ""  # this type is a device of this kind ("phone")
    ages: tuple[tuple[int, int], ...] = ()
    siblings: tuple[str, ...] = ()
    complements: tuple[str, ...] = ()
    lines: tuple[str, ...] = ()  # product-line words put after the brand ("Pro-V", "Ultra")
    house_brands: bool = True

    @property
    def top(self) -> str:
        return self.category[0]


def _q(*names: str, **implied: str) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    facts = tuple(implied.items())
    return tuple((n, facts) for n in names)


# Fact values that satisfy any wanted value of the same fact ("unisex" fits "womens").
WILDCARDS: dict[str, str] = {"gender": "unisex", "season": "all season"}
WILDCARD_VALUES: frozenset[str] = frozenset(WILDCARDS.values())

GENDERS = ("men", "women", "unisex")
SHOE_SIZES = ("6", "7", "8", "9", "10", "11", "12")
CLOTHING_SIZES = ("small", "medium", "large", "x-large")
COLORS = ("black", "white", "blue", "red", "pink", "green", "gray", "navy", "beige", "purple")

_TYPES: list[ProductType] = [
    # --- beauty & personal care
    ProductType(
        "shampoo",
        ("Beauty & Personal Care", "Hair Care", "Shampoo"),
        ("Shampoo", "Moisturizing Shampoo", "Clarifying Shampoo", "Daily Shampoo", "Hair Shampoo"),
        _q("shampoo", "hair shampoo"),
        (
            "for Dry Damaged Hair",
            "Color Safe",
            "Salon Quality",
            "for All Hair Types",
            "Anti Frizz",
            "Volumizing",
            "Argan Oil",
            "Tea Tree",
            "Biotin & Collagen",
            "Hydrating",
            "for Men & Women",
        ),
        _brands("Pantene:2, Dove:2, OGX:2, Head & Shoulders:2, Suave:1, Aveda:3, Kerastase:3"),
        ingredients=("sulfate", "paraben", "silicone", "fragrance"),
        base_ingredients=("water", "cocamidopropyl betaine", "glycerin", "panthenol", "citric acid"),
        packs=(1, 2, 3),
        units=("12 Fl Oz", "13.5 fl oz", "16.9 Fl Oz", "33.8 oz", "8 oz"),
        siblings=("conditioner",),
        lines=("Pro-V", "Nourishing", "Daily Moisture", "Renewing"),
    ),
    ProductType(
        "conditioner",
        ("Beauty & Personal Care", "Hair Care", "Conditioner"),
        ("Conditioner", "Hair Conditioner", "Deep Conditioner", "Leave-In Conditioner"),
        _q("conditioner", "hair conditioner"),
        ("for Dry Damaged Hair", "Color Safe", "Detangling", "Smoothing", "Coconut Oil", "Hydrating", "for Curly Hair"),
        _brands("Pantene:2, Dove:2, OGX:2, Suave:1, Aveda:3, Kerastase:3"),
        ingredients=("paraben", "silicone", "fragrance"),
        base_ingredients=("water", "cetearyl alcohol", "behentrimonium chloride", "glycerin"),
        packs=(1, 2, 3),
        units=("12 Fl Oz", "13 oz", "16.9 Fl Oz"),
        siblings=("shampoo",),
    ),
    ProductType(
        "body wash",
        ("Beauty & Personal Care", "Bath & Body", "Body Wash"),
        ("Body Wash", "Shower Gel", "Moisturizing Body Wash"),
        _q("body wash", "shower gel"),
        ("for Dry Skin", "Deep Moisture", "Refreshing", "Sensitive Skin", "Shea Butter", "Charcoal"),
        _brands("Dove:2, Olay:2, Dial:1, Old Spice:2, Aveeno:2, Native:2"),
        facts={"gender": GENDERS},
        ingredients=("sulfate", "paraben", "fragrance"),
        base_ingredients=("water", "glycerin", "cocamidopropyl betaine", "sodium chloride"),
        packs=(1, 2, 4),
        units=("22 Fl Oz", "18 oz", "30 fl oz"),
    ),
    ProductType(
        "deodorant",
        ("Beauty & Personal Care", "Personal Care", "Deodorant"),
        ("Deodorant", "Deodorant Stick", "Solid Deodorant", "Invisible Solid Deodorant"),
        _q("deodorant", "deodorant stick"),
        (
            "48 Hour Odor Protection",
            "Long Lasting",
            "Sensitive Skin",
            "Travel Size",
            "No White Marks",
            "Invisible Solid",
            "Twist Up",
        ),
        _brands("Degree:1, Secret:2, Dove:2, Old Spice:2, Native:2, Schmidt's:2, Lume:3"),
        facts={"gender": GENDERS},
        ingredients=("aluminum", "fragrance", "paraben"),
        base_ingredients=("caprylic/capric triglyceride", "tapioca starch", "coconut oil", "shea butter"),
        packs=(1, 2, 3, 4),
        units=("2.6 oz", "2.7 Ounce", "3 oz"),
    ),
    ProductType(
        "toothpaste",
        ("Beauty & Personal Care", "Oral Care", "Toothpaste"),
        ("Toothpaste", "Whitening Toothpaste", "Gel Toothpaste", "Toothpaste Tube"),
        _q("toothpaste"),
        (
            "Fresh Mint",
            "Enamel Protection",
            "Sensitive Teeth",
            "Cavity Protection",
            "Teeth Whitening",
            "Charcoal",
            "for Kids and Adults",
        ),
        _brands("Colgate:1, Crest:1, Sensodyne:2, Tom's of Maine:2, Hello:2, Davids:3"),
        ingredients=("fluoride", "sulfate"),
        base_ingredients=("sorbitol", "hydrated silica", "glycerin", "xylitol", "peppermint oil"),
        packs=(1, 2, 3, 4, 6),
        units=("4 oz", "4.8 oz", "5.1 Ounce", "6.2 oz"),
        complements=("electric toothbrush",),
    ),
    ProductType(
        "mouthwash",
        ("Beauty & Personal Care", "Oral Care", "Mouthwash"),
        ("Mouthwash", "Antiseptic Mouthwash", "Mouth Rinse", "Oral Rinse"),
        _q("mouthwash", "mouth rinse"),
        ("Fresh Breath", "Cool Mint", "Kills 99% of Germs", "Gum Health", "for Bad Breath"),
        _brands("Listerine:2, Crest:1, ACT:1, TheraBreath:2, Colgate:1"),
        ingredients=("alcohol", "fluoride"),
        base_ingredients=("water", "sorbitol", "poloxamer 407", "menthol", "eucalyptol"),
        packs=(1, 2, 3),
        units=("16.9 fl oz", "1 L", "500 mL", "33.8 Fl Oz"),
    ),
    ProductType(
        "electric toothbrush",
        ("Beauty & Personal Care", "Oral Care", "Electric Toothbrushes"),
        ("Electric Toothbrush", "Sonic Electric Toothbrush", "Rechargeable Toothbrush"),
        _q("electric toothbrush"),
        ("with 8 Brush Heads", "2 Minute Smart Timer", "5 Modes", "Travel Case", "Rechargeable"),
        _brands("Oral-B:2, Philips Sonicare:3, Fairywill:1, Aquasonic:1"),
        facts={"color": ("black", "white", "pink", "blue")},
        complements=("toothpaste",),
    ),
    ProductType(
        "hair treatment",
        ("Beauty & Personal Care", "Hair Care", "Hair Treatments"),
        ("Hair Repair Treatment", "Bond Building Treatment", "Hair Mask", "Pre-Shampoo Treatment"),
        _q("hair repair treatment", "bond repair treatment"),
        ("for Damaged Hair", "Repairs Split Ends", "Bleached Hair", "Deep Conditioning", "Strengthening"),
        _brands("Olaplex:3, K18:3, Redken:2, L'Oreal Paris:1, Elizavecca:1, Arvazallia:1"),
        ingredients=("silicone", "paraben", "fragrance"),
        base_ingredients=("water", "cetearyl alcohol", "glycerin", "bis-aminopropyl diglycol dimaleate"),
        units=("3.3 Fl Oz", "100 mL", "8.5 oz"),
    ),
    ProductType(
        "hair dryer",
        ("Beauty & Personal Care", "Hair Care", "Hair Dryers"),
        ("Hair Dryer", "Ionic Hair Dryer", "Blow Dryer", "Professional Hair Dryer"),
        _q("hair dryer", "blow dryer"),
        ("Fast Drying", "with Diffuser", "1875W", "Low Noise", "Negative Ions", "3 Heat Settings"),
        _brands("Dyson:3, Revlon:1, Conair:1, BaBylissPRO:2, Shark:2, Laifen:2"),
        facts={"color": ("black", "pink", "white", "purple", "gray")},
    ),
    # --- grocery
    ProductType(
        "gummy candy",
        ("Grocery & Gourmet Food", "Candy", "Gummy Candy"),
        ("Gummy Bears", "Gummy Candy", "Sour Gummy Worms", "Fruit Gummies"),
        _q("gummy bears", "gummy candy", "gummies"),
        ("Assorted Fruit Flavors", "Individually Wrapped", "Bulk Candy", "Party Favors", "Kosher"),
        _brands("Haribo:1, Albanese:2, SmartSweets:2, Trolli:1, Black Forest:1, Russell Stover:2"),
        ingredients=("sugar", "gelatin", "gluten"),
        base_ingredients=("pectin", "citric acid", "natural flavors", "carnauba wax", "fruit juice"),
        packs=(1, 4, 6, 12),
        units=("5 oz", "12 oz", "1.8 oz", "2 lb"),
        house_brands=False,
    ),
    ProductType(
        "energy drink",
        ("Grocery & Gourmet Food", "Beverages", "Energy Drinks"),
        ("Energy Drink", "Sparkling Energy Drink", "Energy Drink Cans"),
        _q("energy drink", "energy drinks"),
        ("Tropical Punch", "Original Flavor", "B Vitamins", "Sparkling", "Pre Workout"),
        _brands("Red Bull:2, Monster:1, Celsius:2, Bang:1, Rockstar:1, Guru:2"),
        ingredients=("sugar", "caffeine"),
        base_ingredients=("carbonated water", "citric acid", "taurine", "natural flavors", "niacinamide"),
        packs=(4, 12, 24),
        units=("12 fl oz", "16 Fl Oz", "8.4 oz"),
        house_brands=False,
    ),
    ProductType(
        "protein bar",
        ("Grocery & Gourmet Food", "Snack Foods", "Protein Bars"),
        ("Protein Bars", "Protein Bar", "Protein Snack Bars", "High Protein Snack Bars"),
        _q("protein bars", "protein bar"),
        ("20g Protein", "Chocolate Peanut Butter", "Low Carb", "Healthy Snack", "Variety Pack"),
        _brands("Quest:2, RXBAR:2, ONE:1, Pure Protein:1, Barebells:2, Kirkland Signature:1"),
        ingredients=("gluten", "dairy", "sugar"),
        base_ingredients=("almonds", "dates", "egg whites", "peanuts", "cocoa", "sea salt"),
        packs=(4, 12, 18, 24),
        units=("1.8 oz", "2.1 oz", "1.76 Ounce"),
        house_brands=False,
    ),
    ProductType(
        "coffee",
        ("Grocery & Gourmet Food", "Beverages", "Coffee"),
        ("Ground Coffee", "Whole Bean Coffee", "K-Cup Coffee Pods", "Medium Roast Coffee"),
        _q("coffee", "ground coffee", "coffee pods"),
        ("Medium Roast", "Dark Roast", "100% Arabica", "Breakfast Blend", "Colombian", "Smooth"),
        _brands("Folgers:1, Starbucks:2, Peet's:2, Dunkin':1, Lavazza:2, Death Wish:3"),
        ingredients=("caffeine",),
        base_ingredients=("100% arabica coffee", "ground coffee beans"),
        packs=(1, 2, 24, 72),
        units=("12 oz", "24.2 oz", "2 lb", "30.5 Ounce"),
        house_brands=False,
    ),
    # --- household
    ProductType(
        "battery",
        ("Health & Household", "Household Batteries", "Alkaline Batteries"),
        ("Alkaline Batteries", "Batteries", "Double A Batteries", "Long Lasting Batteries"),
        _q("aa batteries", "double a batteries", size="AA") + _q("aaa batteries", size="AAA"),
        ("Long Lasting", "10-Year Shelf Life", "Household Batteries", "1.5V", "Bulk"),
        _brands("Duracell:2, Energizer:2, Amazon Basics:1, Rayovac:1, Panasonic:2"),
        facts={"size": ("AA", "AAA", "C", "D")},
        packs=(4, 8, 12, 16, 20, 24, 48),
    ),
    ProductType(
        "paper towels",
        ("Health & Household", "Household Supplies", "Paper Towels"),
        ("Paper Towels", "Paper Towel Rolls", "Select-A-Size Paper Towels"),
        _q("paper towels", "paper towel rolls"),
        ("Double Rolls", "Strong and Absorbent", "Family Rolls", "Triple Rolls", "Kitchen"),
        _brands("Bounty:2, Viva:2, Sparkle:1, Brawny:2, Amazon Basics:1, Kirkland Signature:1"),
        packs=(2, 6, 8, 12, 24),
        house_brands=False,
    ),
    ProductType(
        "trash bags",
        ("Health & Household", "Household Supplies", "Trash Bags"),
        ("Trash Bags", "Tall Kitchen Trash Bags", "Garbage Bags", "Drawstring Trash Bags"),
        _q("trash bags", "garbage bags"),
        ("Drawstring", "Odor Control", "Extra Strong", "Unscented", "Heavy Duty"),
        _brands("Glad:2, Hefty:2, Amazon Basics:1, Kirkland Signature:1"),
        facts={"capacity": ("4 gallon", "13 gallon", "30 gallon", "55 gallon")},
        packs=(40, 80, 90, 110, 200),
    ),
    # --- kitchen
    ProductType(
        "water bottle",
        ("Home & Kitchen", "Kitchen & Dining", "Water Bottles"),
        ("Water Bottle", "Insulated Water Bottle", "Sports Water Bottle", "Water Bottle with Straw"),
        _q("water bottle"),
        (
            "Leak Proof",
            "Wide Mouth",
            "with Straw Lid",
            "Keeps Drinks Cold 24 Hours",
            "for Gym",
            "Dishwasher Safe",
            "Motivational Time Marker",
        ),
        _brands("Hydro Flask:3, Yeti:3, CamelBak:2, Owala:2, Contigo:1, Simple Modern:1, Nalgene:2"),
        facts={
            "capacity": ("20 oz", "24 oz", "32 oz", "40 oz", "64 oz"),
            "material": ("stainless steel", "plastic", "glass"),
            "color": COLORS,
        },
        ingredients=("bpa",),
        packs=(1, 2, 4),
        siblings=("travel mug",),
    ),
    ProductType(
        "travel mug",
        ("Home & Kitchen", "Kitchen & Dining", "Travel Mugs & Tumblers"),
        ("Travel Mug", "Tumbler with Lid", "Coffee Tumbler", "Coffee Travel Mug"),
        _q("travel mug", "tumbler", "coffee tumbler"),
        ("Spill Proof", "Leakproof Lid", "Cup Holder Friendly", "with Handle", "Slider Lid"),
        _brands("Yeti:3, Stanley:3, Contigo:1, Zojirushi:2, Simple Modern:1, Ello:1"),
        facts={
            "capacity": ("12 oz", "16 oz", "20 oz", "30 oz", "40 oz"),
            "insulation": ("insulated", "not insulated"),
            "color": COLORS,
        },
        packs=(1, 2),
        siblings=("coffee mug", "water bottle"),
    ),
    ProductType(
        "coffee mug",
        ("Home & Kitchen", "Kitchen & Dining", "Coffee Mugs"),
        ("Coffee Mug", "Ceramic Coffee Mug", "Coffee Mugs Set", "Tea Cup"),
        _q("coffee mug", "coffee mugs"),
        ("Microwave and Dishwasher Safe", "Large Handle", "Funny Gift", "Stoneware", "Matte Finish"),
        _brands("Bodum:2, Ember:3, Mora Ceramics:2, Amazon Basics:1, Sweese:1"),
        facts={"capacity": ("12 oz", "16 oz", "20 oz"), "insulation": ("not insulated",), "color": COLORS},
        packs=(1, 2, 4, 6),
        siblings=("travel mug",),
    ),
    ProductType(
        "frying pan",
        ("Home & Kitchen", "Cookware", "Frying Pans & Skillets"),
        ("Frying Pan", "Saute Pan", "Fry Pan", "Skillet"),
        _q("frying pan", "skillet", "fry pan"),
        ("Oven Safe", "Induction Compatible", "Stay Cool Handle", "Dishwasher Safe", "Egg Pan", "Omelet Pan"),
        _brands("Lodge:1, T-fal:1, All-Clad:3, Calphalon:2, GreenPan:2, Made In:3, OXO:2"),
        facts={
            "material": ("cast iron", "stainless steel", "nonstick aluminum", "carbon steel"),
            "size": ("8 inch", "10 inch", "12 inch"),
        },
        ingredients=("ptfe",),
        siblings=("dutch oven",),
    ),
    ProductType(
        "dutch oven",
        ("Home & Kitchen", "Cookware", "Dutch Ovens"),
        ("Dutch Oven", "Enameled Cast Iron Dutch Oven", "Dutch Oven Pot with Lid", "Braiser"),
        _q("dutch oven"),
        ("with Lid", "for Bread Baking", "Oven Safe", "Round", "Enameled"),
        _brands("Le Creuset:3, Staub:3, Lodge:1, Cuisinart:2, Amazon Basics:1, Crock-Pot:1"),
        facts={"capacity": ("3 quart", "5.5 quart", "7 quart"), "color": COLORS},
        siblings=("frying pan",),
    ),
    ProductType(
        "blender",
        ("Home & Kitchen", "Small Appliances", "Blenders"),
        ("Blender", "Countertop Blender", "Professional Blender", "Smoothie Blender"),
        _q("blender", "smoothie blender"),
        ("for Shakes and Smoothies", "1200W", "Crushes Ice", "64 oz Pitcher", "Self-Cleaning"),
        _brands("Vitamix:3, Blendtec:3, Ninja:2, Hamilton Beach:1, Oster:1, NutriBullet:2"),
        facts={"color": ("black", "white", "red", "gray")},
        complements=("blender jar",),
    ),
    ProductType(
        "blender jar",
        ("Home & Kitchen", "Small Appliance Parts", "Blender Parts"),
        ("Replacement Blender Jar", "Blender Container with Lid", "Blender Pitcher Replacement"),
        _q("blender jar", "blender container"),
        ("BPA Free", "Replacement Part", "with Blade Assembly", "64 oz"),
        _brands("Vitamix:3, Ninja:2, Oster:1"),
        complements=("blender",),
    ),
    ProductType(
        "stand mixer",
        ("Home & Kitchen", "Small Appliances", "Stand Mixers"),
        ("Stand Mixer", "Tilt-Head Stand Mixer", "Electric Stand Mixer", "Kitchen Mixer"),
        _q("stand mixer", "kitchen mixer"),
        ("5 Quart Bowl", "10 Speeds", "with Dough Hook", "Flat Beater", "Wire Whip"),
        _brands("KitchenAid:3, Cuisinart:2, Hamilton Beach:1, Aucma:1, Kitchen in the box:1"),
        facts={"color": COLORS},
        complements=("mixer attachment",),
    ),
    ProductType(
        "mixer attachment",
        ("Home & Kitchen", "Small Appliance Parts", "Mixer Accessories"),
        ("Pasta Maker Attachment", "Spiralizer Attachment", "Flex Edge Beater", "Meat Grinder Attachment"),
        _q("stand mixer attachment"),
        ("Fits All Stand Mixers", "Dishwasher Safe", "Stainless Steel"),
        _brands("KitchenAid:3, Gvode:1, Antree:1"),
        complements=("stand mixer",),
    ),
    ProductType(
        "air fryer",
        ("Home & Kitchen", "Small Appliances", "Air Fryers"),
        ("Air Fryer", "Air Fryer Oven", "Digital Air Fryer", "Compact Air Fryer"),
        _q("air fryer"),
        ("Nonstick Basket", "Dishwasher Safe", "Digital Touchscreen", "Roast, Bake, Reheat", "Oilless Cooker"),
        _brands("Ninja:2, Cosori:1, Instant Vortex:2, Philips:3, Chefman:1, Ultrean:1"),
        facts={"capacity": ("2 quart", "4 quart", "5.8 quart", "8 quart"), "color": ("black", "white", "gray")},
        ingredients=("ptfe",),
    ),
    ProductType(
        "vacuum",
        ("Home & Kitchen", "Vacuums & Floor Care", "Vacuums"),
        ("Cordless Vacuum", "Stick Vacuum Cleaner", "Upright Vacuum", "Cordless Stick Vacuum"),
        _q("vacuum", "cordless vacuum", "vacuum cleaner"),
        ("for Pet Hair", "Lightweight", "HEPA Filter", "40 Min Runtime", "for Carpet and Hard Floors"),
        _brands("Dyson:3, Miele:3, Shark:2, Bissell:1, Eureka:1, Hoover:1, Tineco:2"),
        facts={"color": ("gray", "purple", "red", "blue", "black")},
        complements=("vacuum attachment",),
    ),
    ProductType(
        "vacuum attachment",
        ("Home & Kitchen", "Vacuums & Floor Care", "Vacuum Parts & Accessories"),
        ("Replacement Filter", "Vacuum Attachments Kit", "Brush Roll Replacement", "Crevice Tool"),
        _q("vacuum filter", "vacuum attachments"),
        ("Washable", "Replacement Part", "2 Pack", "Fits V6 V7 V8"),
        _brands("Dyson:3, Shark:2, Bissell:1, LTWHOME:1, Vacfit:1"),
        complements=("vacuum",),
    ),
    # --- clothing & shoes
    ProductType(
        "running shoes",
        ("Clothing, Shoes & Jewelry", "Shoes", "Athletic Shoes", "Running"),
        ("Running Shoes", "Road Running Shoe", "Athletic Running Sneakers", "Lightweight Running Shoes"),
        _q("running shoes", "running sneakers"),
        ("Breathable", "Non Slip", "Cushioned", "Gym Workout", "Tennis", "Mesh", "Fashion Sneakers"),
        _brands("Nike:2, Adidas:2, Brooks:2, Asics:2, New Balance:2, Hoka:3, On:3"),
        facts={"gender": GENDERS, "size": SHOE_SIZES, "color": COLORS},
        siblings=("walking shoes",),
    ),
    ProductType(
        "walking shoes",
        ("Clothing, Shoes & Jewelry", "Shoes", "Athletic Shoes", "Walking"),
        ("Walking Shoes", "Slip On Walking Shoes", "Comfort Walking Sneakers"),
        _q("walking shoes", "walking sneakers"),
        ("Memory Foam", "Arch Support", "Slip On", "Lightweight", "Nurse Shoes", "Wide Width"),
        _brands("Skechers:2, New Balance:2, Ryka:2, Brooks:2, Propet:1"),
        facts={"gender": GENDERS, "size": SHOE_SIZES, "color": COLORS},
        siblings=("running shoes",),
    ),
    ProductType(
        "sandals",
        ("Clothing, Shoes & Jewelry", "Shoes", "Sandals"),
        ("Sandals", "Flat Sandals", "Slide Sandals", "Strappy Sandals"),
        _q("sandals"),
        ("Summer Beach", "Arch Support", "Adjustable Strap", "Comfortable", "Dressy"),
        _brands("Birkenstock:3, Teva:2, Crocs:1, Clarks:2, Dream Pairs:1"),
        facts={"gender": GENDERS, "size": SHOE_SIZES, "color": COLORS},
        siblings=("heels",),
    ),
    ProductType(
        "heels",
        ("Clothing, Shoes & Jewelry", "Shoes", "Pumps & Heels"),
        ("Heeled Sandals", "Pointed Toe Pumps", "Block Heels", "Stiletto Heels"),
        _q("heels", "high heels"),
        ("Wedding", "Party", "Ankle Strap", "Dress Shoes", "Comfortable"),
        _brands("Sam Edelman:2, Steve Madden:2, DREAM PAIRS:1, Stuart Weitzman:3"),
        facts={"size": SHOE_SIZES, "color": COLORS, "season": ("summer", "all season")},
        siblings=("sandals",),
    ),
    ProductType(
        "dress",
        ("Clothing, Shoes & Jewelry", "Women", "Clothing", "Dresses"),
        ("Dress", "Maxi Dress", "Midi Dress", "Wrap Dress", "A-Line Dress"),
        _q("dress", "womens dress"),
        ("Flowy", "V Neck", "Short Sleeve", "with Pockets", "Floral", "Elegant", "Ruffle Hem"),
        _brands("PRETTYGARDEN:1, Grace Karin:1, ZESICA:1, Calvin Klein:2, Lulus:2, Reformation:3"),
        facts={
            "size": CLOTHING_SIZES,
            "color": COLORS,
            "season": ("summer", "winter", "all season"),
            "style": ("formal", "casual"),
            "material": ("linen", "satin", "cotton", "polyester", "wool"),
        },
        siblings=("suit",),
    ),
    ProductType(
        "suit",
        ("Clothing, Shoes & Jewelry", "Men", "Clothing", "Suits & Sport Coats"),
        ("Suit", "Slim Fit Suit", "2 Piece Suit", "Blazer Jacket"),
        _q("suit", "mens suit"),
        ("Slim Fit", "Two Button", "Notch Lapel", "Modern Fit", "Stretch"),
        _brands("Calvin Klein:2, Amazon Essentials:1, Bonobos:3, COOFANDY:1, Tommy Hilfiger:2"),
        facts={
            "size": CLOTHING_SIZES,
            "color": COLORS,
            "season": ("summer", "winter", "all season"),
            "style": ("formal", "casual"),
            "material": ("linen", "wool", "cotton", "polyester"),
        },
        siblings=("dress",),
    ),
    ProductType(
        "winter coat",
        ("Clothing, Shoes & Jewelry", "Clothing", "Coats, Jackets & Vests"),
        ("Winter Coat", "Puffer Jacket", "Parka", "Down Coat", "Wool Coat"),
        _q("winter coat", "puffer jacket"),
        ("Hooded", "Warm", "Water Resistant", "Quilted", "Long", "Fleece Lined"),
        _brands("The North Face:3, Columbia:2, Amazon Essentials:1, Orolay:1, Canada Goose:3"),
        facts={"gender": GENDERS, "size": CLOTHING_SIZES, "color": COLORS, "season": ("winter",)},
        siblings=("rain jacket",),
    ),
    ProductType(
        "rain jacket",
        ("Clothing, Shoes & Jewelry", "Clothing", "Coats, Jackets & Vests"),
        ("Rain Jacket", "Waterproof Raincoat", "Packable Rain Shell", "Windbreaker"),
        _q("rain jacket", "raincoat"),
        ("Waterproof", "Hooded", "Lightweight", "Packable", "Hiking", "Breathable"),
        _brands("Columbia:2, The North Face:3, Patagonia:3, Amazon Essentials:1, Little Donkey Andy:1"),
        facts={"gender": GENDERS, "size": CLOTHING_SIZES, "color": COLORS},
        siblings=("winter coat",),
    ),
    ProductType(
        "t-shirt",
        ("Clothing, Shoes & Jewelry", "Clothing", "Shirts", "T-Shirts"),
        ("T-Shirt", "Crew Neck T-Shirt", "Tee Shirt", "Short Sleeve Tee", "Graphic Tee"),
        _q("t shirt", "t-shirt", "tee shirt"),
        ("Casual", "Crewneck", "Soft", "Classic Fit", "Moisture Wicking", "Undershirt"),
        _brands("Hanes:1, Gildan:1, Fruit of the Loom:1, Champion:2, Under Armour:2, Carhartt:2"),
        facts={
            "gender": GENDERS,
            "size": CLOTHING_SIZES,
            "color": COLORS,
            "material": ("cotton", "polyester", "cotton blend"),
        },
        packs=(1, 3, 5, 6),
    ),
    ProductType(
        "leggings",
        ("Clothing, Shoes & Jewelry", "Women", "Clothing", "Leggings"),
        ("Leggings", "High Waisted Leggings", "Yoga Pants", "Workout Leggings"),
        _q("leggings", "yoga pants"),
        ("Tummy Control", "Buttery Soft", "with Pockets", "Squat Proof", "Athletic"),
        _brands("Lululemon:3, Athleta:3, CRZ YOGA:1, Colorfulkoala:1, Amazon Essentials:1, Fabletics:2"),
        facts={"size": CLOTHING_SIZES, "color": COLORS},
    ),
    ProductType(
        "socks",
        ("Clothing, Shoes & Jewelry", "Clothing", "Socks & Hosiery"),
        ("Socks", "Athletic Crew Socks", "Ankle Socks", "No Show Socks", "Cushioned Socks"),
        _q("socks", "crew socks", "ankle socks"),
        ("Moisture Wicking", "Cushioned", "Breathable", "Low Cut", "Cotton"),
        _brands("Hanes:1, Gildan:1, Bombas:3, Under Armour:2, Darn Tough:3"),
        facts={"gender": GENDERS, "color": ("black", "white", "gray", "navy")},
        packs=(3, 6, 10, 12),
    ),
    # --- cell phones & accessories
    ProductType(
        "smartphone",
        ("Cell Phones & Accessories", "Cell Phones"),
        ("Smartphone", "Unlocked Smartphone", "Cell Phone", "5G Smartphone"),
        _q("smartphone", "unlocked phone", "cell phone"),
        ("Fully Unlocked", "Renewed", "Dual SIM", "5G", "Long Battery Life"),
        _brands("Apple:3, Samsung:2, Google:2, Motorola:1, OnePlus:2"),
        facts={
            "capacity": ("64GB", "128GB", "256GB", "512GB"),
            "color": ("black", "white", "blue", "green", "purple", "red", "gray"),
        },
        device_kind="phone",
        complements=("phone case", "screen protector", "charging cable", "wireless charger"),
        house_brands=False,
    ),
    ProductType(
        "phone case",
        ("Cell Phones & Accessories", "Cases, Holsters & Sleeves", "Basic Cases"),
        ("Phone Case", "Clear Case", "Shockproof Case", "Silicone Case", "Wallet Case", "Slim Fit Case"),
        _q("phone case", "case"),
        (
            "Shockproof",
            "Military Grade Drop Protection",
            "Anti-Scratch",
            "Slim Thin",
            "Bumper Cover",
            "Raised Edges",
            "Soft TPU",
            "with Card Holder",
        ),
        _brands("OtterBox:3, Spigen:2, Casetify:3, Smartish:2, ESR:1, Temdan:1"),
        facts={"color": ("black", "clear", "blue", "pink", "purple", "green", "red")},
        fits="phone case",
        packs=(1, 2),
        complements=("smartphone", "screen protector"),
    ),
    ProductType(
        "screen protector",
        ("Cell Phones & Accessories", "Accessories", "Screen Protectors"),
        ("Screen Protector", "Tempered Glass Screen Protector", "Privacy Screen Protector"),
        _q("screen protector"),
        ("9H Hardness", "Case Friendly", "Bubble Free", "Easy Installation", "Anti Scratch", "HD Clear"),
        _brands("ZAGG:2, Spigen:2, amFilm:1, JETech:1, ESR:1"),
        fits="screen protector",
        packs=(1, 2, 3),
        complements=("smartphone", "phone case"),
    ),
    ProductType(
        "charging cable",
        ("Cell Phones & Accessories", "Accessories", "Chargers & Power Adapters"),
        ("Charger Cable", "Fast Charging Cable", "Charging Cord", "Charger", "Phone Charger Cable"),
        _q("charger", "charging cable", "phone charger"),
        ("Nylon Braided", "Fast Charging", "Data Sync", "Durable", "Long Cord", "6FT", "10 FT"),
        _brands("Anker:2, Belkin:2, Amazon Basics:1, Apple:3, Samsung:2, UGREEN:1"),
        facts={"color": ("black", "white", "gray", "red")},
        fits="charging cable",
        packs=(1, 2, 3, 5),
        siblings=("wireless charger",),
        complements=("smartphone",),
    ),
    ProductType(
        "wireless charger",
        ("Cell Phones & Accessories", "Accessories", "Chargers & Power Adapters"),
        ("Wireless Charger", "Wireless Charging Pad", "Wireless Charging Stand", "Qi Charger"),
        _q("wireless charger", "wireless charging pad"),
        ("15W Max", "Fast Charging", "Qi-Certified", "Case Friendly", "LED Indicator"),
        _brands("Anker:2, Belkin:2, Samsung:2, Yootech:1, mophie:2"),
        facts={"color": ("black", "white")},
        fits="wireless charger",
        siblings=("charging cable",),
        complements=("smartphone",),
    ),
    # --- computers
    ProductType(
        "laptop",
        ("Electronics", "Computers & Accessories", "Laptops"),
        ("Laptop", "Notebook Computer", "Laptop Computer", "Thin and Light Laptop"),
        _q("laptop", "notebook computer"),
        ("Backlit Keyboard", "Wi-Fi 6", "Long Battery Life", "Fingerprint Reader", "Renewed"),
        _brands("Apple:3, Dell:2, HP:2, Lenovo:2"),
        facts={"capacity": ("256GB SSD", "512GB SSD", "1TB SSD"), "color": ("silver", "gray", "black")},
        device_kind="laptop",
        complements=("laptop charger", "laptop sleeve"),
        house_brands=False,
    ),
    ProductType(
        "laptop charger",
        ("Electronics", "Computers & Accessories", "Laptop Chargers & Adapters"),
        ("Laptop Charger", "Laptop Power Adapter", "Power Adapter", "AC Adapter Charger"),
        _q("charger", "laptop charger", "power adapter"),
        ("Replacement", "Fast Charging", "with Cable", "Power Supply", "Travel"),
        _brands("Apple:3, Anker:2, UGREEN:1, Nekteck:1, Dell:2, HP:2, Lenovo:2"),
        fits="laptop charger",
        complements=("laptop",),
    ),
    ProductType(
        "laptop sleeve",
        ("Electronics", "Computers & Accessories", "Laptop Sleeves"),
        ("Laptop Sleeve", "Laptop Case", "Laptop Sleeve Bag", "Protective Sleeve"),
        _q("laptop sleeve", "laptop case"),
        ("Water Repellent", "Shockproof", "with Pocket", "Slim", "Felt", "Carrying Bag"),
        _brands("Inateck:1, MOSISO:1, tomtoc:2, Incase:2, Bellroy:3"),
        facts={"color": ("black", "gray", "navy", "pink", "green")},
        fits="laptop sleeve",
        complements=("laptop",),
    ),
    ProductType(
        "printer",
        ("Electronics", "Computers & Accessories", "Printers"),
        ("All-in-One Printer", "Wireless Printer", "Inkjet Printer", "Color Printer"),
        _q("printer", "wireless printer"),
        ("Scan Copy Fax", "Mobile Printing", "Auto Document Feeder", "Works with Alexa"),
        _brands("HP:2, Canon:2, Epson:2, Brother:2"),
        device_kind="printer",
        complements=("ink cartridge",),
        house_brands=False,
    ),
    ProductType(
        "ink cartridge",
        ("Electronics", "Computers & Accessories", "Printer Ink & Toner"),
        ("Ink Cartridge", "Ink Cartridges Combo Pack", "Remanufactured Ink Cartridge", "Black Ink Cartridge"),
        _q("ink", "ink cartridge", "printer ink"),
        ("High Yield", "Combo Pack", "Black and Tri-Color", "Replacement", "Original"),
        _brands("HP:2, Canon:2, Epson:2, LxTek:1, Greenbox:1, Valuetoner:1"),
        fits="ink cartridge",
        packs=(1, 2, 4, 5),
        complements=("printer",),
    ),
    # --- storage & audio
    ProductType(
        "microsd card",
        ("Electronics", "Computers & Accessories", "Memory Cards"),
        ("microSD Card", "Micro SD Card", "microSDXC Memory Card", "TF Card"),
        _q("micro sd card", "microsd card", "memory card"),
        ("with Adapter", "UHS-I", "U3 A2 V30", "Class 10", "for Nintendo Switch", "4K UHD"),
        _brands("SanDisk:2, Samsung:2, Lexar:1, PNY:1, Kingston:1"),
        facts={"capacity": ("32GB", "64GB", "128GB", "256GB", "512GB", "1TB")},
        packs=(1, 2, 5),
        siblings=("usb flash drive",),
    ),
    ProductType(
        "usb flash drive",
        ("Electronics", "Computers & Accessories", "USB Flash Drives"),
        ("USB Flash Drive", "Thumb Drive", "USB 3.0 Flash Drive", "Memory Stick"),
        _q("usb flash drive", "thumb drive", "flash drive"),
        ("Jump Drive", "High Speed", "Swivel Design", "Keychain", "USB 3.1"),
        _brands("SanDisk:2, Samsung:2, PNY:1, Kingston:1, Lexar:1"),
        facts={"capacity": ("32GB", "64GB", "128GB", "256GB", "512GB")},
        packs=(1, 2, 5, 10),
        siblings=("microsd card",),
    ),
    ProductType(
        "headphones",
        ("Electronics", "Headphones", "Over-Ear Headphones"),
        ("Noise Cancelling Headphones", "Wireless Over Ear Headphones", "Bluetooth Headphones"),
        _q("headphones", "noise cancelling headphones"),
        ("Active Noise Cancelling", "40H Playtime", "Hi-Res Audio", "Foldable", "with Mic"),
        _brands("Bose:3, Sony:3, Soundcore:1, JBL:2, Beats:3, OneOdio:1"),
        facts={"color": ("black", "white", "silver", "blue", "beige")},
        siblings=("wireless earbuds",),
    ),
    ProductType(
        "wireless earbuds",
        ("Electronics", "Headphones", "Earbud Headphones"),
        ("Wireless Earbuds", "Bluetooth Earbuds", "True Wireless Earbuds", "Noise Cancelling Earbuds"),
        _q("wireless earbuds", "bluetooth earbuds"),
        ("IPX7 Waterproof", "Charging Case", "Deep Bass", "Touch Control", "Sports"),
        _brands("Apple:3, Samsung:2, Soundcore:1, JLab:1, Jabra:2, Sony:3"),
        facts={"color": ("black", "white", "blue", "pink")},
        siblings=("headphones",),
    ),
    # --- toys & books
    ProductType(
        "building set",
        ("Toys & Games", "Building Toys", "Building Sets"),
        ("Building Kit", "Building Blocks Set", "Building Toy", "Construction Set"),
        _q("building set", "building blocks"),
        ("Creative Gift", "STEM Toy", "Compatible with Major Brands", "Storage Box", "Vehicles"),
        _brands("LEGO:3, Mega Bloks:1, Magna-Tiles:3, Picasso Tiles:1, Melissa & Doug:2"),
        ages=((1, 5), (3, 99), (4, 99), (6, 12), (8, 14), (9, 99), (18, 99)),
        siblings=("stem kit",),
    ),
    ProductType(
        "plush toy",
        ("Toys & Games", "Stuffed Animals & Plush Toys"),
        ("Stuffed Animal", "Plush Toy", "Teddy Bear", "Weighted Stuffed Animal", "Plushie"),
        _q("stuffed animal", "plush toy"),
        ("Soft Cuddly", "Gift for Kids", "12 Inch", "Huggable", "Bedtime Buddy"),
        _brands("Jellycat:3, Gund:2, Squishmallows:2, Ty:1, Aurora:1"),
        ages=((0, 1), (1, 99), (3, 99)),
    ),
    ProductType(
        "board game",
        ("Toys & Games", "Games", "Board Games"),
        ("Board Game", "Strategy Board Game", "Family Board Game", "Party Game"),
        _q("board game", "family board game"),
        ("for Family Game Night", "2-4 Players", "Cooperative", "Fun for Kids and Adults"),
        _brands("Hasbro Gaming:2, Catan:2, Ravensburger:2, Mattel Games:1, Exploding Kittens:2"),
        ages=((3, 6), (5, 99), (8, 99), (10, 99), (12, 99), (14, 99)),
    ),
    ProductType(
        "stem kit",
        ("Toys & Games", "Learning & Education", "Science Kits"),
        ("Science Kit", "STEM Kit", "Robot Building Kit", "Crystal Growing Kit", "Coding Robot"),
        _q("science kit", "stem kit"),
        ("Educational Toy", "Experiments", "Birthday Gift", "Learning Toy", "DIY"),
        _brands("National Geographic:2, Thames & Kosmos:2, Snap Circuits:2, Learning Resources:1, Sillbird:1"),
        ages=((4, 7), (5, 99), (8, 12), (8, 99), (10, 99), (12, 99)),
        siblings=("building set",),
    ),
    ProductType(
        "baby rattle",
        ("Baby", "Baby Toys", "Rattles & Teethers"),
        ("Baby Rattle", "Teether Toy", "Rattle Set", "Sensory Rattle"),
        _q("baby rattle", "teether"),
        ("BPA Free", "for Newborn", "Grasping Toy", "Soft", "Shaker"),
        _brands("Fisher-Price:2, Infantino:1, Sassy:1, Manhattan Toy:2"),
        ages=((0, 1),),
    ),
    ProductType(
        "kids book",
        ("Books", "Children's Books"),
        ("Picture Book", "Children's Book", "Activity Book", "Board Book", "Early Reader"),
        _q("kids book", "childrens book"),
        ("Hardcover", "Paperback", "Bedtime Story", "Illustrated", "Read Aloud"),
        _brands("Scholastic:1, Penguin Random House:2, HarperCollins:2, Usborne:2, Highlights:1"),
        ages=((0, 3), (3, 5), (4, 8), (6, 9), (9, 12)),
        house_brands=False,
    ),
]

TYPES: dict[str, ProductType] = {t.key: t for t in _TYPES}


def brand_tier(ptype: str, brand: str) -> int | None:
    """Price tier of ``brand`` for ``ptype`` (house brands are 1); None if unknown."""
    for b in TYPES[ptype].brands:
        if b.name == brand:
            return b.tier
    return 1 if brand in HOUSE_BRANDS else None


def brand_names(ptype: str) -> tuple[str, ...]:
    """Every brand that sells ``ptype``: the listed ones, then house brands where allowed."""
    t = TYPES[ptype]
    listed = tuple(b.name for b in t.brands)
    return listed + (HOUSE_BRANDS if t.house_brands else ())


# Premium brands a shopper asks for an alternative to, and the type they stand for.
ALTERNATIVE_TO: dict[str, str] = {
    "Dyson": "vacuum",
    "Yeti": "travel mug",
    "Hydro Flask": "water bottle",
    "Vitamix": "blender",
    "KitchenAid": "stand mixer",
    "Le Creuset": "dutch oven",
    "Lululemon": "leggings",
    "Bose": "headphones",
    "Olaplex": "hair treatment",
    "Aveda": "shampoo",
    "All-Clad": "frying pan",
    "Bombas": "socks",
}


def check_catalogue() -> None:
    """Raise AssertionError if a reference in the vocabulary points nowhere (used by tests)."""
    for t in _TYPES:
        for other in t.siblings + t.complements:
            assert other in TYPES, f"{t.key}: unknown related type {other}"
        for ing in t.ingredients:
            assert ing in INGREDIENTS, f"{t.key}: unknown ingredient {ing}"
        if t.fits:
            assert devices_for(t.fits), f"{t.key}: no device takes {t.fits}"
        if t.device_kind:
            assert any(d.kind == t.device_kind and d.sellable for d in DEVICES.values())
    for brand, ptype in ALTERNATIVE_TO.items():
        tier = brand_tier(ptype, brand)
        assert tier is not None, f"{brand} does not sell {ptype}"
        assert any(b.tier < tier for b in TYPES[ptype].brands), f"nothing cheaper than {brand}"
