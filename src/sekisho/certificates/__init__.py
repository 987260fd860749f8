"""Certificates of residence (住民票の写し), issued by the home municipality wherever they are asked for (広域交付):
the form's content (``model``), the PDF (``render``), the PAdES and JWS signatures (``signing``), their
verification (``verify``), the home's desk (``service``) and its HTTP face (``api``).  The register's side — which
items go on a certificate, with the access record written before they leave — is ``sekisho.registry.certificates``;
the composition root joins the two (``sekisho.node.residence``)."""
