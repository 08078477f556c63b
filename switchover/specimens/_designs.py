"""How each bundled form looks on paper: headings, instructions, the order of rows.

The template says what the fields are and how to find them; a design adds what
a printed form also has (an authority, a title, sections, a declaration, notes).
A template without a design gets a plain one: its title and one field per row.

No printed text here may repeat a field's label: the extraction engine anchors on
labels, so each label must appear exactly once on the page.
"""

from __future__ import annotations

from dataclasses import dataclass

from config.form_template import FormTemplate

SIGNATURE = "_signature"
"""A row item that is not a field: the signature box (a scribble, no text)."""


@dataclass(frozen=True)
class Section:
    """A titled block of rows; a row of two field names is laid out in two columns."""

    heading: str
    rows: tuple[tuple[str, ...], ...]
    intro: str = ""


@dataclass(frozen=True)
class FormDesign:
    """The printed parts of a form around its fields."""

    authority: str
    title: str
    subtitle: str
    instructions: str
    reference_caption: str
    sections: tuple[Section, ...]
    footer: str = ""
    notes_title: str = "Notes"
    notes: tuple[str, ...] = ()


REGISTER_TO_VOTE = FormDesign(
    authority="Electoral Registration Officer",
    title="Register to vote",
    subtitle="Voter registration form - England, Scotland and Wales",
    instructions="Please write in BLOCK CAPITALS using black or blue ink. "
    "Mark boxes with a cross or a tick.",
    reference_caption="Elector reference (office use)",
    sections=(
        Section(
            "1  About you",
            (("surname",), ("first_names",), ("date_of_birth",), ("national_insurance_number",)),
        ),
        Section("2  Citizenship", (("nationality",),)),
        Section(
            "3  Where you live",
            (("address_line_1",), ("address_line_2",), ("town",), ("postcode",)),
        ),
        Section(
            "4  How we can contact you (optional)",
            (("email",), ("phone",)),
        ),
        Section(
            "5  Voting choices",
            (("postal_vote",), ("open_register_opt_out",)),
            intro="The edited version of the register can be bought by anyone. Leaving it "
            "does not affect your right to vote.",
        ),
        Section(
            "6  Declaration",
            ((SIGNATURE,), ("signature_date",)),
            intro="I declare that the details I have given are true. It is an offence to give "
            "false information.",
        ),
    ),
    footer="Return this form in the prepaid envelope to your Electoral Registration Office.",
    notes_title="Notes to help you fill in this form",
    notes=(
        "You can register if you are 16 or over (14 or over in Scotland and Wales). "
        "You can only vote once you are 18, or 16 in Scottish and Welsh elections.",
        "We check the details you give with the Department for Work and Pensions. "
        "If you cannot give a detail we ask for, leave it empty and we will contact you.",
        "Voting by post: we will send you a separate application with this letter.",
        "The edited register is the version of the electoral register that anyone "
        "may buy. The full version is only used for elections and by law enforcement.",
        "Registering to vote is quick and easy online at gov.uk.",
    ),
)

LEGAL_AID_MEANS = FormDesign(
    authority="Legal Aid Agency",
    title="Civil legal aid",
    subtitle="Means assessment - financial eligibility",
    instructions="Please use BLOCK CAPITALS and black ink. Give amounts in pounds.",
    reference_caption="LAA case reference",
    sections=(
        Section(
            "Part 1  The applicant",
            (
                ("surname", "forenames"),
                ("date_of_birth", "national_insurance_number"),
                ("home_address",),
                ("postcode",),
                ("phone",),
            ),
        ),
        Section(
            "Part 2  Your circumstances",
            (("employment_status",), ("dependants",), ("universal_credit",), ("has_partner",)),
        ),
        Section(
            "Part 3  Money coming in and going out",
            (
                ("monthly_gross_income",),
                ("monthly_housing_cost",),
                ("council_tax",),
                ("childcare_costs",),
                ("savings",),
            ),
            intro="Give amounts before tax. Include money held for you by anyone else.",
        ),
        Section(
            "Part 4  Declaration",
            ((SIGNATURE,), ("signature_date",)),
            intro="The information on this form is correct. I will report any change "
            "in my finances straight away.",
        ),
    ),
    footer="Civil legal aid - keep a copy of this form for your records.",
    notes_title="Guidance notes",
    notes=(
        "If you get a passporting benefit you do not need to show your earnings, "
        "but you must still tell us about your capital.",
        "Capital includes money in bank and building society accounts, ISAs, "
        "shares and the value of property other than your main home.",
        "If a partner lives with you, their means are added to yours unless they "
        "are the other side in the case.",
        "Your solicitor will send this form to us with the application.",
    ),
)

_DESIGNS = {
    "register-to-vote": REGISTER_TO_VOTE,
    "legal-aid-means": LEGAL_AID_MEANS,
}


def design_for(template: FormTemplate) -> FormDesign:
    """The bundled design for the template's form type, or a plain one-field-per-row design."""
    design = _DESIGNS.get(template.form_type)
    if design is not None:
        return design
    labelled = tuple((spec.name,) for spec in template.fields if spec.label)
    return FormDesign(
        authority="",
        title=template.title,
        subtitle="",
        instructions="Please write in BLOCK CAPITALS.",
        reference_caption="Reference",
        sections=(Section("Details", labelled),),
    )
