"""What the certificates say, field by field: the authentication certificate names nobody; the signature
certificate carries the four basic items intact; the CA certificates carry the constraints the bridge needs."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtensionOID, NameOID
from hypothesis import given
from hypothesis import strategies as st

from sekisho.pki import _der, hierarchy, profiles
from sekisho.pki.oids import DATE_OF_BIRTH, GENDER, POSTAL_ADDRESS, Purpose, bridge_policy, prefecture_policy
from sekisho.pki.prefectures import prefectures

from .conftest import Citizen, NewCitizen


def _encodings(text: str) -> list[bytes]:
    out = []
    for codec in ("utf-8", "utf-16-be", "utf-16-le", "utf-32-be", "shift_jis", "euc_jp", "iso2022_jp", "cp932"):
        try:
            out.append(text.encode(codec))
        except UnicodeEncodeError:
            continue  # e.g. 𠮷 has no Shift_JIS code; the other encodings still cover the name
    return out


def _date_forms(citizen: Citizen) -> list[bytes]:
    d = citizen.items.birth_date
    forms = [
        f"{d:%Y%m%d}", f"{d:%Y-%m-%d}", f"{d:%Y/%m/%d}", f"{d:%y%m%d}", f"{d:%Y%m%d}120000Z", f"{d:%y%m%d}120000Z",
        f"{d:%Y%m%d}000000Z", f"{d.year}年{d.month}月{d.day}日", f"昭和{d.year - 1925}年{d.month}月{d.day}日",
    ]  # fmt: skip
    return [e for f in forms for e in _encodings(f)]


def _texts(cert: x509.Certificate) -> list[str]:
    """Every string-valued field of the certificate: names, and every extension's parsed value."""
    texts = [a.value for a in (*cert.subject, *cert.issuer) if isinstance(a.value, str)]
    for ext in cert.extensions:
        texts.append(repr(ext.value))
    return texts


def test_authentication_certificate_contains_no_personal_data(new_citizen: NewCitizen) -> None:
    citizen = new_citizen()
    cert = citizen.auth
    der = cert.public_bytes(Encoding.DER)
    items = citizen.items
    # name and address: long enough to search the raw DER in every common encoding
    for value in (items.name, *items.name.split(), items.address):
        for encoded in _encodings(value):
            assert encoded not in der
    for encoded in _date_forms(citizen):
        assert encoded not in der
    # sex is one character: look at the parsed fields, and for the attribute OIDs that would carry it
    for text in _texts(cert):
        assert items.name not in text
        assert items.address not in text
        for token in ("男", "女", "female", "male", "Female", "Male"):
            assert token not in text
    for oid in (GENDER, DATE_OF_BIRTH, POSTAL_ADDRESS):
        assert _der.oid(oid) not in der
    # the subject is C, O and a random identifier; nothing else, no SAN, no directory attributes
    assert [a.oid for a in cert.subject] == [NameOID.COUNTRY_NAME, NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value.isalpha()
    present = {e.oid for e in cert.extensions}
    assert ExtensionOID.SUBJECT_ALTERNATIVE_NAME not in present
    assert ExtensionOID.SUBJECT_DIRECTORY_ATTRIBUTES not in present
    assert present == {
        ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.KEY_USAGE, ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.CERTIFICATE_POLICIES, ExtensionOID.SUBJECT_KEY_IDENTIFIER, ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.CRL_DISTRIBUTION_POINTS, ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
    }  # fmt: skip


def test_the_check_above_would_catch_personal_data(new_citizen: NewCitizen) -> None:
    # the same probes find the items in the signature certificate, so the test above can fail
    citizen = new_citizen()
    der = citizen.sign.public_bytes(Encoding.DER)
    assert items_found(der, citizen) == {"name", "address", "birth_date", "sex"}


def items_found(der: bytes, citizen: Citizen) -> set[str]:
    found = set()
    if any(e in der for e in _encodings(citizen.items.name)):
        found.add("name")
    if any(e in der for e in _encodings(citizen.items.address)):
        found.add("address")
    if any(e in der for e in _date_forms(citizen)):
        found.add("birth_date")
    if _der.oid(GENDER) in der:
        found.add("sex")
    return found


def test_signature_certificate_carries_the_four_items_as_utf8(new_citizen: NewCitizen) -> None:
    citizen = new_citizen()
    cert = citizen.sign
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0]
    assert cn.value == citizen.items.name  # 髙 and 𠮷 survive byte for byte
    assert cn._type == x509.name._ASN1Type.UTF8String
    sda = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_DIRECTORY_ATTRIBUTES)
    assert not sda.critical
    body = sda.value.value
    assert b"19870605120000Z" in body
    assert _der.printable("F") in body
    assert _der.utf8(citizen.items.address) in body
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.content_commitment
    assert usage.digital_signature
    assert not usage.key_cert_sign


def test_the_two_certificates_share_only_the_random_subject_identifier(new_citizen: NewCitizen) -> None:
    citizen = new_citizen()
    auth_id = citizen.auth.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    sign_id = citizen.sign.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value
    assert auth_id == sign_id
    other = new_citizen()
    assert other.auth.subject != citizen.auth.subject
    assert citizen.auth.public_key() != citizen.sign.public_key()


def test_hierarchy_shape(pki: hierarchy.Pki) -> None:
    roots = {r.subject.rfc4514_string(): r for r in hierarchy.roots(pki.engine)}
    assert len(prefectures()) == 47
    assert len(roots) == 48  # 47 prefectures + the organisation CA
    cross = hierarchy.cross_certificates(pki.engine)
    assert len(cross) == 94
    bridge = profiles.ca_name(profiles.BRIDGE)
    for cert in cross:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        assert bc.critical
        assert bc.value.ca
        pc = cert.extensions.get_extension_for_class(x509.PolicyConstraints)
        assert pc.critical
        assert pc.value.require_explicit_policy == 0
        assert cert.extensions.get_extension_for_class(x509.InhibitAnyPolicy).critical
        ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        assert ski == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())  # type: ignore[arg-type]
        mappings = profiles.read_policy_mappings(cert)
        assert len(mappings) == 2
        if cert.issuer == bridge:
            code = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value[-2:]
            assert bc.value.path_length == 0
            assert pc.value.inhibit_policy_mapping == 0
            assert (bridge_policy(Purpose.SIGNATURE).dotted_string,
                    prefecture_policy(code, Purpose.SIGNATURE).dotted_string) in mappings  # fmt: skip
        else:
            assert cert.subject == bridge
            assert bc.value.path_length == 1
            assert pc.value.inhibit_policy_mapping == 1
        dp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        assert dp[0].full_name[0].value.startswith("http://127.0.0.1:")
    root13 = hierarchy.root(pki.engine, "13")
    assert root13.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 2


def test_policy_mappings_round_trip() -> None:
    pairs = [(prefecture_policy("01", p), bridge_policy(p)) for p in Purpose]
    ext = profiles.policy_mappings(pairs)
    cert_like = ext.value
    assert profiles._parse_oid_pairs(cert_like) == [(a.dotted_string, b.dotted_string) for a, b in pairs]


oid_arcs = st.tuples(st.integers(0, 2), st.integers(0, 39), st.lists(st.integers(0, 2**40), min_size=1, max_size=8))


@given(st.lists(st.tuples(oid_arcs, oid_arcs), min_size=1, max_size=5))
def test_policy_mappings_der_round_trips_any_oids(pairs: list[tuple[tuple[int, int, list[int]], ...]]) -> None:
    def make(arcs: tuple[int, int, list[int]]) -> x509.ObjectIdentifier:
        first, second, rest = arcs
        return x509.ObjectIdentifier(".".join(map(str, [first, second, *rest])))

    oids = [(make(a), make(b)) for a, b in pairs]
    ext = profiles.policy_mappings(oids)
    assert profiles._parse_oid_pairs(ext.value) == [(a.dotted_string, b.dotted_string) for a, b in oids]


def test_prefectures_come_from_the_jp_catalogue() -> None:
    ps = prefectures()
    assert [p.code for p in ps] == [f"{i:02d}" for i in range(1, 48)]
    assert ps[0].name == "北海道"
    assert ps[12].name == "東京都"
    assert ps[46].name == "沖縄県"
