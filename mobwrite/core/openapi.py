"""The OpenAPI 3.1 description of the HTTP API, served at /api/v1/openapi.json.

docs/api.md is checked against it (tests/test_api.py): every operation
here is documented there and the reverse.
"""

from __future__ import annotations

from typing import Any


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, **_json(schema)}


_ERRORS = {
    "400": {"$ref": "#/components/responses/BadRequest"},
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "403": {"$ref": "#/components/responses/Forbidden"},
}
_MISSING = {"404": {"$ref": "#/components/responses/NotFound"}}
_TOO_BIG = {"413": {"$ref": "#/components/responses/TooLarge"},
            "507": {"$ref": "#/components/responses/NoRoom"}}
_NAME = {"name": "name", "in": "path", "required": True,
         "description": "the document's name, %-escaped", "schema": {"type": "string"}}
_NUMBER = {"name": "number", "in": "path", "required": True,
           "schema": {"type": "integer", "minimum": 0}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


_LIMIT = _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                "most entries in the page")

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "mobwrite HTTP API", "version": "1",
             "description": "Documents and their revisions (docs/api.md)."},
    "servers": [{"url": "/api/v1"}],
    "security": [{"bearer": []}, {}],
    "paths": {
        "/documents": {"get": {
            "operationId": "listDocuments", "summary": "List documents, paged by name",
            "parameters": [_query("prefix", {"type": "string"}, "only names starting so"),
                           _query("after", {"type": "string"}, "only names after this one"),
                           _LIMIT],
            "responses": {"200": _answer("a page of documents", _ref("DocumentList")),
                          **_ERRORS}}},
        "/documents/{name}": {
            "parameters": [_NAME],
            "get": {"operationId": "getDocument", "summary": "A document's text and revision",
                    "responses": {"200": _answer("the document", _ref("Document")),
                                  **_ERRORS, **_MISSING}},
            "put": {"operationId": "putDocument",
                    "summary": "Write a text, merged with the changes since base_revision",
                    "parameters": [_query("force", {"type": "boolean", "default": False},
                                          "overwrite outright, without merging")],
                    "requestBody": {"required": True, **_json(_ref("Write"))},
                    "responses": {"200": _answer("the merged document", _ref("Document")),
                                  **_ERRORS, **_MISSING, **_TOO_BIG}},
            "delete": {"operationId": "deleteDocument", "summary": "Delete a document",
                       "responses": {"200": _answer("deleted", _ref("Deleted")),
                                     **_ERRORS, **_MISSING}},
        },
        "/documents/{name}/append": {"parameters": [_NAME], "post": {
            "operationId": "appendText", "summary": "Add text at the end",
            "requestBody": {"required": True, **_json(_ref("Append"))},
            "responses": {"200": _answer("the document", _ref("Document")),
                          **_ERRORS, **_TOO_BIG}}},
        "/documents/{name}/text": {
            "parameters": [_NAME],
            "get": {"operationId": "downloadText", "summary": "The text as a download",
                    "responses": {"200": {"description": "the text",
                                          "content": {"text/plain": {
                                              "schema": {"type": "string"}}}},
                                  **_ERRORS, **_MISSING}},
            "put": {"operationId": "importText", "summary": "Import a plain text file",
                    "requestBody": {"required": True, "content": {"text/plain": {
                        "schema": {"type": "string"}}}},
                    "responses": {"200": _answer("the document", _ref("Document")),
                                  **_ERRORS, **_TOO_BIG}},
        },
        "/documents/{name}/revisions": {"parameters": [_NAME], "get": {
            "operationId": "listRevisions", "summary": "A page of a document's revisions",
            "parameters": [_query("start", {"type": "integer", "minimum": 0},
                                  "first revision (newest first: the last one)"),
                           _query("order", {"enum": ["newest", "oldest"],
                                            "default": "newest"}, "the page's order"),
                           _LIMIT],
            "responses": {"200": _answer("the revisions", _ref("RevisionList")),
                          **_ERRORS, **_MISSING}}},
        "/documents/{name}/revisions/{number}": {"parameters": [_NAME, _NUMBER], "get": {
            "operationId": "getRevision", "summary": "A revision with its text",
            "responses": {"200": _answer("the revision", _ref("RevisionText")),
                          **_ERRORS, **_MISSING}}},
        "/documents/{name}/revisions/{number}/restore": {
            "parameters": [_NAME, _NUMBER], "post": {
                "operationId": "restoreRevision",
                "summary": "Put a revision's text back, as a new revision",
                "responses": {"200": _answer("the document", _ref("Document")),
                              **_ERRORS, **_MISSING}}},
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                       "description": "a mobwrite token (docs/security.md)"}},
        "responses": {
            name: _answer(description, _ref("Error")) for name, description in (
                ("BadRequest", "bad JSON, a wrong type, an unknown field or parameter"),
                ("Unauthorized", "no token, or one that does not verify"),
                ("Forbidden", "the token lacks the right or does not cover the document"),
                ("NotFound", "no such document or revision"),
                ("TooLarge", "the body or the resulting text is too long"),
                ("NoRoom", "the server is out of room (MAX_MEMORY or MAX_STORED); "
                           "nothing changed, try again later"))},
        "schemas": {
            "Error": {"type": "object", "required": ["error"],
                      "properties": {"error": {"type": "string"}}},
            "Document": {"type": "object", "required": ["name", "text", "revision", "modified"],
                         "properties": {"name": {"type": "string"}, "text": {"type": "string"},
                                        "revision": {"type": "integer"},
                                        "modified": {"type": "number"}}},
            "Deleted": {"type": "object", "required": ["name", "deleted"],
                        "properties": {"name": {"type": "string"},
                                       "deleted": {"const": True}}},
            "Write": {"type": "object", "required": ["text"], "additionalProperties": False,
                      "properties": {"text": {"type": "string"},
                                     "base_revision": {"type": "integer", "minimum": 0}}},
            "Append": {"type": "object", "required": ["text"], "additionalProperties": False,
                       "properties": {"text": {"type": "string"}}},
            "Summary": {"type": "object",
                        "required": ["name", "length", "revision", "modified", "views"],
                        "properties": {"name": {"type": "string"},
                                       "length": {"type": "integer"},
                                       "revision": {"type": "integer"},
                                       "modified": {"type": "number"},
                                       "views": {"type": "integer"}}},
            "DocumentList": {"type": "object", "required": ["documents", "next"],
                             "properties": {"documents": {"type": "array",
                                                          "items": _ref("Summary")},
                                            "next": {"type": ["string", "null"]}}},
            "Revision": {"type": "object",
                         "required": ["number", "time", "author", "kind", "inserted",
                                      "deleted", "change"],
                         "properties": {
                             "number": {"type": "integer"},
                             "time": {"type": ["number", "null"]},
                             "author": {"type": ["string", "null"]},
                             "kind": {"enum": ["edit", "restore", "force", None]},
                             "inserted": {"type": ["integer", "null"]},
                             "deleted": {"type": ["integer", "null"]},
                             "change": {"type": ["array", "null"], "items": {
                                 "type": "array", "prefixItems": [
                                     {"type": "integer"}, {"type": "string"},
                                     {"type": "string"}]}}}},
            "RevisionText": {"allOf": [_ref("Revision"), {
                "type": "object", "required": ["text"],
                "properties": {"text": {"type": "string"}}}]},
            "RevisionList": {"type": "object", "required": ["name", "base", "head", "revisions"],
                             "properties": {"name": {"type": "string"},
                                            "base": {"type": "integer"},
                                            "head": {"type": "integer"},
                                            "revisions": {"type": "array",
                                                          "items": _ref("Revision")}}},
        },
    },
}
