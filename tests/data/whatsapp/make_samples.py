"""Writes the hand-made WhatsApp samples of this folder (run from anywhere; output is committed).

The shapes follow real exports (see SOURCES.md); the invisible characters real exports carry are
spelled out here, since an editor would hide them: LRM (U+200E) before iOS media and system texts
and at the start of iOS attachment lines, U+202F before AM/PM, U+00A0 inside Spanish "p. m.",
U+202A/U+202C around phone numbers, a byte order mark, CRLF mixed with LF, no final newline.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
LRM, NNBSP, NBSP, LRE, PDF, BOM = "\u200e", "\u202f", "\u00a0", "\u202a", "\u202c", "\ufeff"


def am(time: str) -> str:
    return f"{time}{NNBSP}AM"


def pm(time: str) -> str:
    return f"{time}{NNBSP}PM"


# iOS, English (US), a group; the group itself files its events; month-first settled by 1/13
IOS_EN_US = [
    (
        f"{LRM}[1/13/24, {am('9:02:11')}] Hiking Club: {LRM}Messages and calls are end-to-end"
        " encrypted. No one outside of this chat, not even WhatsApp, can read or listen to them."
    ),
    f"{LRM}[1/13/24, {am('9:02:11')}] Dana Whitfield: {LRM}Dana Whitfield created this group",
    f"{LRM}[1/13/24, {am('9:03:30')}] Hiking Club: {LRM}Dana Whitfield added Sam Ortiz",
    f"[1/13/24, {am('9:05:40')}] Dana Whitfield: Morning all! Saturday hike is on 🥾",
    f"[1/13/24, {am('9:06:02')}] Sam Ortiz: Count me in",
    f"[1/13/24, {am('9:06:02')}] Sam Ortiz: Count me in",
    f"{LRM}[1/13/24, {am('9:15:02')}] Sam Ortiz: {LRM}<attached: 00000012-PHOTO-2024-01-13-09-15-02.jpg>",
    f"[1/13/24, {am('9:20:33')}] {LRE}+44 7700 900123{PDF}: Is the trail muddy?",
    f"[1/13/24, {am('9:21:10')}] ~{NNBSP}Mia & Theo: Trail was fine last week.",
    "Bring poles though.",
    "",
    "Seriously.",
    f"[1/13/24, {pm('12:00:00')}] Dana Whitfield: POLL:",
    "Start time?",
    "OPTION: 8:00 (2 votes)",
    "OPTION: 9:30 (1 vote)",
    f"[1/13/24, {pm('12:45:09')}] 🦊: 🦊🦊",
    f"[1/14/24, {pm('7:30:00')}] Dr. J. Smith: Weather: sunny, 12°C",
    f"{LRM}[1/14/24, {pm('7:31:12')}] Sam Ortiz: {LRM}image omitted",
    f"[1/14/24, {pm('7:32:00')}] Dana Whitfield: {LRM}This message was deleted.",
    f"[1/14/24, {pm('8:01:45')}] Hiking Club: {LRM}Sam Ortiz changed the group description",
    f"[1/14/24, {pm('8:02:00')}] Sam Ortiz: See you at 9 {LRM}<This message was edited>",
    f"[1/15/24, {pm('11:59:59')}] Sam Ortiz: Last one before midnight",
]

# Android, English (UK), 24 hours, a group; CRLF mixed with LF and no final newline
ANDROID_EN_GB = [
    (
        "12/01/2024, 18:30 - Messages and calls are end-to-end encrypted. No one outside of this"
        " chat, not even WhatsApp, can read or listen to them. Tap to learn more."
    ),
    '12/01/2024, 18:30 - Priya Nair created group "Weekend Hikers"',
    "12/01/2024, 18:31 - Priya Nair added Tom Baker and +44 7700 900456",
    "12/01/2024, 18:35 - Priya Nair: Hi both! Route for Saturday:",
    "Start at the car park",
    "Lunch at the summit",
    "12/01/2024, 18:40 - Tom Baker: <Media omitted>",
    "12/01/2024, 18:41 - Tom Baker: IMG-20240112-WA0003.jpg (file attached)",
    "View from last time",
    "13/01/2024, 07:05 - +44 7700 900456: Running 10 min late, sorry!",
    "13/01/2024, 07:06 - Priya Nair: No worries",
    "13/01/2024, 07:06 - Priya Nair: POLL:",
    "Coffee after?",
    "OPTION: Yes (2 votes)",
    "OPTION: No (0 votes)",
    "13/01/2024, 16:20 - Tom Baker: This message was deleted",
    "13/01/2024, 16:21 - +44 7700 900456 left",
    "13/01/2024, 21:02 - Tom Baker: Great day. Photos: see the album",
]

# iOS, German, a group named "Familie"; every day is 12 or less, so the order is assumed
IOS_DE = [
    (
        f"[03.01.24, 19:58:01] Familie: {LRM}Nachrichten und Anrufe sind Ende-zu-Ende-verschlüsselt."
        " Niemand außerhalb dieses Chats kann sie lesen oder anhören, nicht einmal WhatsApp."
    ),
    f"[03.01.24, 19:58:01] Familie: {LRM}Oma Gerda hat die Gruppe „Familie“ erstellt.",
    "[03.01.24, 20:01:15] Oma Gerda: Hallo ihr Lieben! Sonntag um 12 Uhr Mittagessen?",
    "[03.01.24, 20:03:40] Jonas: Ja, wir kommen 👍",
    f"{LRM}[04.01.24, 08:12:09] Lea: {LRM}Bild weggelassen",
    "[04.01.24, 08:12:30] Lea: Wer bringt den Nachtisch mit?",
    "Ich könnte Apfelkuchen backen.",
    f"[05.01.24, 17:45:00] Jonas: {LRM}Diese Nachricht wurde gelöscht.",
    "[06.01.24, 12:00:00] Oma Gerda: Bis morgen! Um 12:00 Uhr",
    (
        f"[07.01.24, 21:15:33] Familie: {LRM}Deine Sicherheitsnummer für Lea hat sich geändert."
        " Tippe, um mehr zu erfahren."
    ),
]

# Android, Spanish, 12 hours with "a. m."/"p. m." (U+202F before, U+00A0 inside), one to one
ES_AM, ES_PM = f"{NNBSP}a.{NBSP}m.", f"{NNBSP}p.{NBSP}m."
ANDROID_ES = [
    (
        f"14/1/24, 10:15{ES_AM} - Los mensajes y las llamadas están cifrados de extremo a extremo."
        " Nadie fuera de este chat, ni siquiera WhatsApp, puede leerlos ni escucharlos. Toca para"
        " obtener más información."
    ),
    f"14/1/24, 10:16{ES_AM} - Ana López: ¡Hola! ¿Quedamos el sábado?",
    f"14/1/24, 10:20{ES_AM} - Carlos: Sí, perfecto",
    f"14/1/24, 12:05{ES_PM} - Ana López: <Multimedia omitido>",
    f"14/1/24, 12:30{ES_PM} - Carlos: ¿A qué hora?",
    "A las 5 me viene bien.",
    f"15/1/24, 12:00{ES_AM} - Ana López: Se eliminó este mensaje",
    f"15/1/24, 9:45{ES_PM} - Carlos: Nos vemos 😊",
]

# Android, Portuguese (Brazil): no comma after the date; phone numbers in U+202A..U+202C
PHONE_BR = f"{LRE}+55 11 91234-5678{PDF}"
ANDROID_PT_BR = [
    (
        "20/02/2024 08:00 - As mensagens e as chamadas são protegidas com a criptografia de ponta a"
        " ponta e ficam somente entre você e os participantes desta conversa. Nem mesmo o WhatsApp"
        " pode ler ou ouvi-las. Toque para saber mais."
    ),
    '20/02/2024 08:00 - Você criou o grupo "Grupo da Família"',
    f"20/02/2024 08:01 - Você adicionou {PHONE_BR}",
    "20/02/2024 08:05 - Mariana Souza: Bom dia, família!",
    f"20/02/2024 08:06 - {PHONE_BR}: Bom dia! ☀️",
    "20/02/2024 08:07 - Mariana Souza: <Mídia oculta>",
    "20/02/2024 19:30 - Mariana Souza: Alguém viu meu guarda-chuva?",
    "Acho que esqueci no carro",
    f"21/02/2024 07:00 - {PHONE_BR}: Mensagem apagada",
]

# iOS, French: no comma in the bracket; a " : " inside a message; one to one
IOS_FR = [
    (
        f"{LRM}[15/01/2024 21:05:12] Camille Martin: {LRM}Les messages et les appels sont chiffrés"
        " de bout en bout. Aucun tiers, pas même WhatsApp, ne peut les lire ou les écouter."
    ),
    "[15/01/2024 21:05:40] Camille Martin: Salut ! Tu es dispo demain ?",
    "[15/01/2024 21:06:02] Julien: Oui, à quelle heure ?",
    "[15/01/2024 21:06:30] Camille Martin: Vers 18 h : au café habituel",
    f"{LRM}[15/01/2024 21:07:00] Julien: {LRM}image absente",
    f"[16/01/2024 08:00:00] Julien: {LRM}Vous avez supprimé ce message.",
    "[16/01/2024 18:02:10] Camille Martin: J’arrive dans 5 min",
]

# Android, English (US), U+202F before AM/PM; no day above 12, so the US convention decides
ANDROID_EN_US = [
    (
        f"1/5/24, {pm('8:14')} - Messages and calls are end-to-end encrypted. Only people in this"
        " chat can read, listen to, or share them. Learn more."
    ),
    f"1/5/24, {pm('8:14')} - Alex Kim: hey! still on for tomorrow?",
    f"1/5/24, {pm('8:20')} - Jordan Lee: yes! 10am at the station",
    f"1/6/24, {am('12:30')} - Alex Kim: can't sleep lol",
    f"1/6/24, {am('9:58')} - Jordan Lee: <Media omitted>",
    f"2/3/24, {am('11:11')} - Your security code with Alex Kim changed. Tap to learn more.",
    f"2/3/24, {am('11:12')} - Alex Kim: 👍",
]

# iOS, Chinese: year first, no comma
IOS_ZH = [
    "[2022/7/21 05:11:12] 李雷: 消息和通话已进行端到端加密。只有此聊天中的成员可以查看、收听或分享。",
    "[2022/7/21 05:11:30] 李雷: 你好！周末有空吗？",
    "[2022/7/21 05:12:02] 韩梅梅: 有空，去爬山吧",
    "[2022/7/22 18:40:00] 韩梅梅: 好的，明天见",
]


def write(name: str, lines: list[str], *, bom: bool = False, crlf_every: int = 0,
          final_newline: bool = True) -> None:  # fmt: skip
    out = []
    for index, line in enumerate(lines):
        end = "\r\n" if crlf_every and index % crlf_every == 0 else "\n"
        out.append(line + end)
    text = "".join(out)
    if not final_newline:
        text = text.rstrip("\r\n")
    path = HERE / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(((BOM if bom else "") + text).encode("utf-8"))


def main() -> None:
    write("ios_en_us/_chat.txt", IOS_EN_US)
    write("WhatsApp Chat with Weekend Hikers.txt", ANDROID_EN_GB, crlf_every=3, final_newline=False)
    write("ios_de/_chat.txt", IOS_DE, bom=True, crlf_every=1)
    write("Chat de WhatsApp con Ana López.txt", ANDROID_ES)
    write("Conversa do WhatsApp com Grupo da Família.txt", ANDROID_PT_BR)
    write("ios_fr/_chat.txt", IOS_FR)
    write("WhatsApp Chat with Alex Kim.txt", ANDROID_EN_US)
    write("ios_zh/_chat.txt", IOS_ZH)


if __name__ == "__main__":
    main()
