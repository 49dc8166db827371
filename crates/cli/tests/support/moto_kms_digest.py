"""moto's server, with KMS Sign honouring MessageType=DIGEST.

moto (5.2.x) parses Sign's MessageType and then ignores it: a DIGEST is
hashed again, so the signature is over sha256(digest) and fails any
verification against GetPublicKey, while the same request works on AWS
(getmoto/moto pull request #10202 fixes it upstream; not released yet).
Every cosign-style client signs digests, so the tests run moto with this
one method replaced; everything else is moto's own.

Run with the moto venv's python, with moto_server's arguments:
    python moto_kms_digest.py -H 127.0.0.1 -p PORT
"""

import base64
import json
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from moto.kms.exceptions import ValidationException
from moto.kms.responses import KmsResponse
from moto.server import main

_original_sign = KmsResponse.sign

_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}


def _sign(self):
    if self._get_param("MessageType") != "DIGEST":
        return _original_sign(self)
    key_id = self._get_param("KeyId")
    digest = self._get_param("Message")  # base64-decoded by _get_param
    algorithm = self._get_param("SigningAlgorithm") or ""
    self._validate_key_id(key_id)
    key = self.kms_backend.describe_key(key_id)
    if key.key_usage != "SIGN_VERIFY" or algorithm not in key.signing_algorithms:
        raise ValidationException(
            f"key {key_id} does not sign with {algorithm!r} (it has {key.signing_algorithms})"
        )
    hash_algorithm = _HASHES[algorithm[-3:]]()
    if len(digest) != hash_algorithm.digest_size:
        raise ValidationException(f"Digest is invalid length for algorithm {algorithm}.")
    private = key.private_key.private_key  # the `cryptography` key object
    if algorithm.startswith("ECDSA_"):
        signature = private.sign(digest, ec.ECDSA(Prehashed(hash_algorithm)))
    elif algorithm.startswith("RSASSA_PKCS1_V1_5_"):
        signature = private.sign(digest, padding.PKCS1v15(), Prehashed(hash_algorithm))
    elif algorithm.startswith("RSASSA_PSS_"):
        pss = padding.PSS(mgf=padding.MGF1(hash_algorithm), salt_length=padding.PSS.DIGEST_LENGTH)
        signature = private.sign(digest, pss, Prehashed(hash_algorithm))
    else:
        raise ValidationException(f"signing algorithm {algorithm!r} is not handled here")
    return json.dumps(
        {
            "KeyId": key.arn,
            "Signature": base64.b64encode(signature).decode("ascii"),
            "SigningAlgorithm": algorithm,
        }
    )


KmsResponse.sign = _sign

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
