from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="SecretsFileBody")


@_attrs_define
class SecretsFileBody:
    """A secrets file as a repository holds it.

    Attributes:
        contents (str): Its bytes, base64: still encrypted.
        path (str): Its path in the repository (named in errors).
    """

    contents: str
    path: str

    def to_dict(self) -> dict[str, Any]:
        contents = self.contents

        path = self.path

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "contents": contents,
                "path": path,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        contents = d.pop("contents")

        path = d.pop("path")

        secrets_file_body = cls(
            contents=contents,
            path=path,
        )

        return secrets_file_body
