"""T1 or T2 over HTTP (``sekisho.pseudonyms.api``): a :class:`~sekisho.protocols.conversion.Hop`."""

from __future__ import annotations

import httpx

from sekisho.errors import IntegrityError
from sekisho.pep.group import Scalar
from sekisho.problems import send
from sekisho.protocols import frames
from sekisho.protocols.conversion import ConversionRequest, HopResult


class HttpTranscryptor:
    """A transcryptor reached through ``client``; ``party`` is who it must be (``t1``, ``t2``)."""

    def __init__(self, client: httpx.Client, *, party: str) -> None:
        self._client = client
        self.party = party

    def convert(self, request: ConversionRequest) -> HopResult:
        response = send(
            self._client,
            "POST",
            "/convert",
            content=frames.request_frame(request),
            headers={"content-type": frames.MEDIA_TYPE},
        )
        header, records = frames.unpack(response.content)
        result = frames.read_result(header, records)
        # the answer must be this hop's, for this request, one ciphertext per input
        if result.party != self.party or result.request_id != request.request_id:
            raise IntegrityError("the transcryptor answered for another party or request", field="result")
        if len(result.ciphertexts) != len(request.ciphertexts):
            raise IntegrityError("the transcryptor answered for another number of persons", field="result")
        return result

    def key_share(self, domain: str, *, requester: str) -> Scalar:
        response = send(self._client, "POST", "/key-share", json={"domain": domain, "requester": requester})
        return Scalar.from_bytes(response.content, field="share")

    def __repr__(self) -> str:
        return f"HttpTranscryptor(party={self.party!r})"
