"""Regenerate the example messages: .venv/bin/python examples/make_examples.py"""
import io
from email.message import EmailMessage
from pathlib import Path
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

OUT = Path(__file__).resolve().parent
def mk(name, to, subject, body, date="Tue, 24 Nov 2026 10:00:00 -0600", cc=None, attach=None):
    m = EmailMessage()
    m["From"] = "Jane Worker <jworker@example.org>"
    m["To"] = to
    if cc: m["Cc"] = cc
    m["Subject"] = subject
    m["Date"] = date
    m["Message-ID"] = f"<{name}@example.org>"
    m.set_content(body + "\n\n-- \nJane Worker, LCSW\nCase Manager, Example Family Services\n(312) 555-0100\n")
    if attach:
        m.add_attachment(*attach[0], **attach[1])
    (OUT / f"{name}.eml").write_bytes(m.as_bytes())

mk("01-pass-internal", "Sam Colleague <scolleague@example.org>", "Coverage Thursday",
   "Hi Sam,\n\nCould you cover my 2pm group on Thursday? I have a training.\n\nThanks!")
mk("02-dob-external", "Intake Team <intake@partner.example.net>", "Referral",
   "Hello,\n\nI am referring a family for housing support. The mother's DOB: 03/14/1988.\nPlease let me know what else you need.")
mk("03-ssn-client-redact", "Rosa Diaz <rosa.diaz@example.com>", "SNAP form",
   "Hi Rosa,\n\nI filled in the SNAP form with the SSN you gave me, 512-44-8821. Please check it and sign page 2.")
mk("04-consent-revoked", "James Okafor <james.okafor@example.net>", "Appointment",
   "Hi James,\n\nJust confirming our meeting next Tuesday at 10am.")
mk("05-consent-expired", "Tanya Brooks <tanya.brooks@example.com>", "Checking in",
   "Hi Tanya,\n\nChecking in to see how the new apartment is going.")
mk("06-condition-external", "Property Office <office@rentals.example.net>", "Tenant support",
   "Hello,\n\nRosa Diaz was diagnosed with bipolar disorder and may need some flexibility on the move-in date.")
mk("07-other-client", "Rosa Diaz <rosa.diaz@example.com>", "Carpool",
   "Hi Rosa,\n\nJames Okafor also goes to the Thursday group, maybe you two could share a ride.")
mk("08-exposed-clients", "Rosa Diaz <rosa.diaz@example.com>, Maria Lopez <maria.lopez@example.com>",
   "Group reminder", "Hi both,\n\nReminder that the parenting group meets Thursday at 6pm.")
mk("09-after-hours", "Rosa Diaz <rosa.diaz@example.com>", "Tomorrow",
   "Hi Rosa,\n\nSee you tomorrow at 9am at the office.", date="Tue, 24 Nov 2026 21:30:00 -0600")
mk("10-urgent", "Rosa Diaz <rosa.diaz@example.com>", "[urgent] Shelter bed tonight",
   "Hi Rosa,\n\nA shelter bed opened up for tonight. Please call the front desk before 10pm.",
   date="Tue, 24 Nov 2026 21:30:00 -0600")
mk("11-override", "Intake Team <intake@partner.example.net>", "[override: signed release on file] Referral",
   "Hello,\n\nAs agreed, the mother's DOB: 03/14/1988.")
mk("12-sms-gateway", "3125550142@vtext.com", "Reminder",
   "Reminder: your methadone appointment is tomorrow at 9.")
pdf = FPDF(); pdf.add_page(); pdf.set_font("Helvetica", size=12); pdf.cell(text="Assessment notes")
w = PdfWriter(); w.append(PdfReader(io.BytesIO(bytes(pdf.output())))); w.encrypt("secret")
buf = io.BytesIO(); w.write(buf)
mk("13-unscannable", "Intake Team <intake@partner.example.net>", "Assessment",
   "Hello,\n\nThe assessment is attached; I will phone you the password.",
   attach=((buf.getvalue(), "application", "pdf"), {"filename": "assessment.pdf"}))
mk("14-channel-preference", "Maria Lopez <maria.lopez@example.com>", "Next visit",
   "Hi Maria,\n\nCan we move our next visit to Friday at 11?")
mk("15-topic-not-a-person", "Rosa Diaz <rosa.diaz@example.com>", "Groups this month",
   "Hi Rosa,\n\nOur substance use support group meets Tuesdays, and the cooking class is on Fridays.")
mk("16-internal-ssn", "Sam Colleague <scolleague@example.org>", "Benefits form",
   "Sam,\n\nFor the benefits form, the SSN is 512-44-8821.")
mk("17-holiday", "Rosa Diaz <rosa.diaz@example.com>", "Friday",
   "Hi Rosa,\n\nAre you still free on Friday afternoon?", date="Thu, 26 Nov 2026 11:00:00 -0600")
mk("18-scope-in", "Dana Ortiz <dortiz@ortiz-law.example.com>", "Treatment update for the hearing",
   "Hi Dana,\n\nAs you asked for the hearing: Alex Morgan has attended every methadone treatment session since March.")
mk("19-scope-out", "Dana Ortiz <dortiz@ortiz-law.example.com>", "Treatment update for the hearing",
   "Hi Dana,\n\nAlex Morgan has attended every methadone treatment session since March. He was also diagnosed with depression last month.")
