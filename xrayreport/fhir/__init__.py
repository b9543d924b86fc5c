"""FHIR export of a reviewed study (:mod:`.report`); needs the ``[fhir]`` extra (fhir.resources)."""
