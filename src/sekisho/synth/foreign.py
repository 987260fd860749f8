"""Foreign residents: nationality mix, names and statuses of residence.

Shares follow the Immigration Services Agency's statistics of foreign residents (在留外国人統計, 2023–2024,
rounded): 中国 ~24%, ベトナム ~17%, 韓国 ~12%, フィリピン ~9%, ブラジル ~6%, ネパール ~6%, インドネシア ~5%,
ミャンマー ~3%, 台湾 ~2%, 米国 ~2% …; the status mix per nationality is a rounded reading of the same tables
(e.g. most Brazilians are 永住者 or 定住者, most Vietnamese 技能実習 or 特定技能, 特別永住者 mostly Koreans).
Names are common family and given names of each country, written as on a residence card (family name first,
upper case).
"""

from __future__ import annotations

from typing import Final

# ISO code → share of foreign residents (percent)
NATIONALITY_SHARES: Final[dict[str, float]] = {
    "CN": 24, "VN": 17, "KR": 11, "KP": 0.7, "PH": 9, "BR": 6, "NP": 6, "ID": 5, "MM": 3, "TW": 2, "US": 2,
    "TH": 1.8, "LK": 1.5, "IN": 1.5, "PE": 1.4, "BD": 1, "PK": 0.7, "KH": 0.7, "MN": 0.6, "GB": 0.5, "FR": 0.4,
    "DE": 0.3, "AU": 0.3, "CA": 0.3, "XX": 0.02,
}  # fmt: skip

# nationality → (status → weight); 特別永住者 is a category of its own
STATUS_MIX: Final[dict[str, dict[str, int]]] = {
    "CN": {"永住者": 35, "技術・人文知識・国際業務": 15, "留学": 15, "家族滞在": 10, "技能実習": 5,
           "日本人の配偶者等": 4, "定住者": 3, "特定技能": 3, "経営・管理": 3},
    "VN": {"技能実習": 35, "特定技能": 25, "技術・人文知識・国際業務": 15, "留学": 10, "家族滞在": 5, "永住者": 5,
           "定住者": 2},
    "KR": {"特別永住者": 45, "永住者": 25, "技術・人文知識・国際業務": 10, "日本人の配偶者等": 7, "留学": 5,
           "家族滞在": 5},
    "KP": {"特別永住者": 100},
    "PH": {"永住者": 45, "定住者": 12, "日本人の配偶者等": 12, "技能実習": 10, "特定技能": 8,
           "技術・人文知識・国際業務": 3},
    "BR": {"永住者": 55, "定住者": 35, "日本人の配偶者等": 8},
    "NP": {"家族滞在": 30, "留学": 25, "技能": 20, "技術・人文知識・国際業務": 15, "永住者": 5},
    "ID": {"技能実習": 45, "特定技能": 30, "留学": 8, "技術・人文知識・国際業務": 5, "永住者": 5},
    "MM": {"技能実習": 30, "特定技能": 25, "留学": 15, "特定活動": 10, "技術・人文知識・国際業務": 8},
    "TW": {"永住者": 35, "技術・人文知識・国際業務": 25, "留学": 15, "日本人の配偶者等": 15},
    "US": {"永住者": 30, "技術・人文知識・国際業務": 20, "日本人の配偶者等": 15, "教育": 10, "家族滞在": 8},
    "TH": {"永住者": 35, "技能実習": 20, "日本人の配偶者等": 15, "特定技能": 10},
    "LK": {"留学": 30, "技術・人文知識・国際業務": 25, "家族滞在": 20, "特定技能": 10, "永住者": 10},
    "IN": {"技術・人文知識・国際業務": 35, "家族滞在": 30, "永住者": 15, "技能": 10},
    "PE": {"永住者": 70, "定住者": 25},
}  # fmt: skip
DEFAULT_STATUS_MIX: Final = {"永住者": 30, "技術・人文知識・国際業務": 30, "留学": 20, "家族滞在": 20}

PERIODS: Final[dict[str, tuple[str, ...]]] = {
    "永住者": ("無期限",),
    "技能実習": ("1年", "2年"),
    "特定技能": ("1年", "3年"),
    "技術・人文知識・国際業務": ("1年", "3年", "5年"),
    "留学": ("1年3月", "2年", "2年3月", "4年3月"),
    "家族滞在": ("1年", "3年", "5年"),
    "定住者": ("1年", "3年", "5年"),
    "日本人の配偶者等": ("1年", "3年", "5年"),
    "技能": ("1年", "3年", "5年"),
    "経営・管理": ("1年", "3年"),
    "特定活動": ("6月", "1年"),
    "教育": ("1年", "3年"),
}
# statuses whose holders may bring their family as 家族滞在
WORKING: Final = frozenset({"技術・人文知識・国際業務", "留学", "技能", "経営・管理", "教育"})

# kanji-name countries: (kanji, romanisation) pairs
KANJI_FAMILY: Final[dict[str, str]] = {
    "CN": "王 WANG|李 LI|張 ZHANG|劉 LIU|陳 CHEN|楊 YANG|黄 HUANG|趙 ZHAO|呉 WU|周 ZHOU|徐 XU|孫 SUN|馬 MA|朱 ZHU|"
    "胡 HU|林 LIN|郭 GUO|何 HE|高 GAO|羅 LUO",
    "TW": "陳 CHEN|林 LIN|黄 HUANG|張 CHANG|李 LI|王 WANG|呉 WU|劉 LIU|蔡 TSAI|楊 YANG",
    "KR": "金 KIM|李 LEE|朴 PARK|崔 CHOI|鄭 JUNG|姜 KANG|趙 CHO|尹 YOON|張 JANG|林 LIM",
}
KANJI_GIVEN: Final[dict[str, tuple[str, str]]] = {
    "CN": ("偉 WEI|強 QIANG|磊 LEI|軍 JUN|洋 YANG|勇 YONG|傑 JIE|涛 TAO|明 MING|超 CHAO|浩然 HAORAN|子軒 ZIXUAN",
           "芳 FANG|娜 NA|敏 MIN|静 JING|麗 LI|艶 YAN|慧 HUI|婷 TING|雪 XUE|玲 LING|欣怡 XINYI|梓涵 ZIHAN"),
    "TW": ("家豪 CHIA-HAO|志明 CHIH-MING|俊傑 CHUN-CHIEH|建宏 CHIEN-HUNG|冠宇 KUAN-YU",
           "怡君 YI-CHUN|雅婷 YA-TING|淑芬 SHU-FEN|美玲 MEI-LING|佳穎 CHIA-YING"),
    "KR": ("英洙 YOUNG SU|成浩 SUNG HO|在浩 JAE HO|賢洙 HYUN SOO|民俊 MIN JUN|東根 DONG GEUN|正男 JUNG NAM",
           "美英 MI YOUNG|貞淑 JUNG SOOK|恩静 EUN JUNG|秀妍 SOO YEON|英子 YOUNG JA|順子 SOON JA|明淑 MYUNG SOOK"),
}  # fmt: skip
KANJI_FAMILY["KP"] = KANJI_FAMILY["KR"]
KANJI_GIVEN["KP"] = KANJI_GIVEN["KR"]

# 通称 of 特別永住者: Japanese surnames commonly used as aliases, with readings
ALIAS_SURNAMES: Final = (
    "金田 カネダ|新井 アライ|金本 カネモト|松本 マツモト|安田 ヤスダ|岩本 イワモト|木村 キムラ|林 ハヤシ|"
    "金城 カネシロ|西原 ニシハラ|大山 オオヤマ|山本 ヤマモト"
)

# Latin-alphabet names: (family names, male given names, female given names); middle names where customary
LATIN: Final[dict[str, tuple[str, str, str]]] = {
    "VN": ("NGUYEN|TRAN|LE|PHAM|HOANG|HUYNH|PHAN|VU|VO|DANG|BUI|DO",
           "VAN AN|VAN BINH|VAN CUONG|VAN DUC|VAN HUNG|VAN NAM|VAN TUAN|MINH QUANG|DUC ANH|VAN THANH",
           "THI LINH|THI LAN|THI MAI|THI HOA|THI THAO|THI HUONG|THI NGOC ANH|THI TRANG|THI HA|THI THUY"),
    "PH": ("SANTOS|REYES|CRUZ|BAUTISTA|OCAMPO|GARCIA|MENDOZA|TORRES|DELA CRUZ|RAMOS|AQUINO|VILLANUEVA",
           "JOSE|JUAN CARLO|MARK ANTHONY|JOHN PAUL|MICHAEL|RYAN|JERICHO|ANGELO",
           "MARIA CRISTINA|ANA MARIE|ROSE ANN|JOY|GRACE|MARY JANE|KRISTINE|JENNIFER"),
    "BR": ("SILVA|SANTOS|OLIVEIRA|SOUZA|PEREIRA|COSTA|RODRIGUES|ALMEIDA|NAKAMURA|SUZUKI|YAMAMOTO|TANAKA",
           "JOAO CARLOS|PEDRO|LUCAS|GABRIEL|CARLOS EDUARDO|PAULO|RAFAEL|MARCELO",
           "MARIA|ANA PAULA|JULIANA|FERNANDA|PATRICIA|CAMILA|ALINE|LETICIA"),
    "NP": ("GURUNG|TAMANG|SHRESTHA|RAI|MAGAR|THAPA|KC|ADHIKARI|SHARMA|POUDEL|BHANDARI|KARKI",
           "RAM|BIKASH|ANIL|RAJESH|PRAKASH|KRISHNA|SURESH|DIPAK",
           "SITA|SUNITA|GITA|SABINA|ANJALI|PUJA|SARITA|RITA"),
    "ID": ("SANTOSO|WIJAYA|SAPUTRA|HIDAYAT|KURNIAWAN|PRATAMA|SETIAWAN|NUGROHO|LESTARI|RAHMAWATI",
           "BUDI|AGUS|ANDI|EKO|RIZKY|DWI|ADITYA|FAJAR",
           "SITI|DEWI|RINA|PUTRI|AYU|INDAH|NUR|WULAN"),
    "MM": ("", "AUNG KYAW|ZAW MIN|KHIN MAUNG|MIN HTET|KYAW ZIN|THET NAING|HTET AUNG|YE LIN",
           "THIDA|MYA MYA|SU SU|KHIN SANDAR|EI PHYU|NANDAR|THAZIN|MAY THU"),
    "US": ("SMITH|JOHNSON|WILLIAMS|BROWN|JONES|GARCIA|MILLER|DAVIS|WILSON|TAYLOR|ANDERSON|THOMAS",
           "JAMES|JOHN|ROBERT|MICHAEL|DAVID|WILLIAM|DANIEL|MATTHEW",
           "MARY|JENNIFER|LINDA|SARAH|EMILY|JESSICA|ELIZABETH|ASHLEY"),
    "TH": ("SRISUK|WONGSA|CHAIYAPORN|SAENGTHONG|KAEWMANEE|BOONMA|SUKSAWAT|THONGDEE",
           "SOMCHAI|SOMSAK|WICHAI|PRASERT|ANAN|NATTAPONG", "NATTAYA|PORNTIP|SIRIPORN|KANYA|SUDA|WANIDA"),
    "LK": ("PERERA|FERNANDO|DE SILVA|BANDARA|JAYASINGHE|KUMARA|DISSANAYAKE|RATHNAYAKE",
           "NIMAL|KAMAL|SAMAN|CHAMINDA|RUWAN|NUWAN", "CHAMARI|DILANI|NADEESHA|SANDYA|ISHARA|KUMARI"),
    "IN": ("SHARMA|SINGH|KUMAR|PATEL|GUPTA|REDDY|RAO|IYER|NAIR|JOSHI",
           "RAHUL|AMIT|VIKRAM|SURESH|ARJUN|RAJESH|SANJAY|ANIL", "PRIYA|ANJALI|DEEPA|KAVYA|NEHA|POOJA|LAKSHMI"),
    "PE": ("QUISPE|FLORES|GARCIA|RODRIGUEZ|HIGA|TAMASHIRO|CHAVEZ|GONZALES|RAMIREZ|TORRES",
           "JOSE LUIS|LUIS|JORGE|CARLOS|MIGUEL|JUAN", "CARMEN|ROSA|ANA MARIA|MARIA ELENA|LUCIA|PATRICIA"),
    "BD": ("HOSSAIN|RAHMAN|ISLAM|AHMED|KHAN|UDDIN|ALAM|CHOWDHURY",
           "MD RAKIB|MD HASAN|MOHAMMAD ALI|SHAHIN|RASHED|KAMRUL", "NUSRAT|FARZANA|SHIRIN|TASLIMA|SADIA"),
    "PK": ("KHAN|ALI|AHMED|HUSSAIN|MALIK|BUTT|SHEIKH|QURESHI",
           "MUHAMMAD ASIF|IMRAN|BILAL|USMAN|ZAHID|TARIQ", "AYESHA|FATIMA|SANA|HINA|SADIA"),
    "KH": ("SOK|CHAN|HENG|KIM|LIM|MEAS|CHEA|PHAN", "SOPHAL|DARA|VIBOL|SOKHA|RATHA", "SREYMOM|CHANTHA|SOPHEA|BOPHA"),
    "MN": ("BATBAYAR|GANBOLD|ENKHBAYAR|TSERENDORJ|BOLD|MUNKH", "BAT-ERDENE|TEMUULEN|GANBAATAR|ENKHJARGAL",
           "ODGEREL|SARANGEREL|NOMIN|ANUJIN"),
    "GB": ("SMITH|JONES|TAYLOR|BROWN|WILLIAMS|WILSON|JOHNSON|DAVIES", "OLIVER|GEORGE|HARRY|JACK|THOMAS",
           "OLIVIA|AMELIA|EMILY|ISLA|SOPHIE"),
    "FR": ("MARTIN|BERNARD|DUBOIS|THOMAS|ROBERT|PETIT|DURAND|LEROY", "LOUIS|GABRIEL|JULES|LUCAS|PIERRE",
           "CAMILLE|LEA|MANON|CHLOE|EMMA"),
    "DE": ("MULLER|SCHMIDT|SCHNEIDER|FISCHER|WEBER|MEYER|WAGNER|BECKER", "LUKAS|JONAS|FELIX|MAXIMILIAN|PAUL",
           "ANNA|LENA|LEONIE|HANNAH|LAURA"),
    "AU": ("SMITH|JONES|WILLIAMS|BROWN|WILSON|TAYLOR", "JACK|WILLIAM|NOAH|OLIVER|THOMAS",
           "CHARLOTTE|OLIVIA|AMELIA|ISLA|MIA"),
    "CA": ("SMITH|BROWN|TREMBLAY|MARTIN|ROY|WILSON", "LIAM|NOAH|WILLIAM|BENJAMIN|LOGAN", "EMMA|OLIVIA|CHLOE|AVA|ZOE"),
    "XX": ("", "ALI|HASSAN|OMAR|YUSUF", "FATIMA|AMINA|LEILA|MARIAM"),
}  # fmt: skip


def pairs(block: str) -> list[tuple[str, str]]:
    return [(a, b) for a, _, b in (item.partition(" ") for item in block.split("|"))]
