"""Small secrets (users' provider API keys) encrypted directly with the data key, bound to an encryption context.

KMS refuses to decrypt unless the same context is given again, so a ciphertext copied to another user's item
(whose context names that other user) cannot be decrypted.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from spoonfeeder.data.aws import client


class CannotDecrypt(Exception):
    """The ciphertext is not one of ours under this encryption context (tampered, copied, or another key's)."""


class KeyCipher:
    def __init__(self, key_arn: str) -> None:
        self.key_arn = key_arn
        self.kms = client("kms")

    def encrypt(self, plaintext: str, context: dict[str, str]) -> bytes:
        done = self.kms.encrypt(KeyId=self.key_arn, Plaintext=plaintext.encode("utf-8"), EncryptionContext=context)
        return bytes(done["CiphertextBlob"])

    def decrypt(self, ciphertext: bytes, context: dict[str, str]) -> str:
        try:
            # KeyId too: a ciphertext made under any other key is refused, not decrypted.
            done = self.kms.decrypt(KeyId=self.key_arn, CiphertextBlob=ciphertext, EncryptionContext=context)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("InvalidCiphertextException", "IncorrectKeyException"):
                raise CannotDecrypt(exc.response["Error"]["Code"]) from None
            raise
        return bytes(done["Plaintext"]).decode("utf-8")
