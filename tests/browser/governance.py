"""The governance journey in real Chromium (Debian's), driven by Playwright.

Run by tests/it/browser.rs against a live `niji serve`: an admin adds an
organization and an account; a researcher applies; two reviewers approve;
the project appears in the researcher's list and on the public register;
a reviewer revokes it. Every step is done as a person would, by labels and
the keyboard, and each page is saved as a screenshot in NIJI_SHOTS.

Environment: NIJI_URL, NIJI_PASSWORD (researchers and reviewers),
NIJI_ADMIN_PASSWORD, NIJI_SHOTS.
"""

import os
import re
import sys

import axe
from playwright.sync_api import expect, sync_playwright

BASE = os.environ["NIJI_URL"]
PASSWORD = os.environ["NIJI_PASSWORD"]
ADMIN_PASSWORD = os.environ["NIJI_ADMIN_PASSWORD"]
SHOTS = os.environ["NIJI_SHOTS"]
CHROMIUM = os.environ.get("NIJI_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TITLE = "スタチンと高齢者の転倒"


def shot(page, name, ours=True):
    """A screenshot of the page, and axe-core on it when it is niji's."""
    page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)
    if ours:
        axe.check(page, name)


def log_in(browser, name, password):
    """A fresh browser context (its own cookies), logged in by the keyboard."""
    context = browser.new_context(locale="ja-JP")
    page = context.new_page()
    page.goto(BASE + "/login")
    expect(page.get_by_role("heading", name="ログイン")).to_be_visible()
    # The name field has focus; Tab reaches the password; Enter submits.
    page.keyboard.type(name)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    expect(page.get_by_text(f"ログイン中: {name}")).to_be_visible()
    return context, page


def admin_adds_an_organization_and_account(browser):
    context, page = log_in(browser, "admin", ADMIN_PASSWORD)
    expect(page.get_by_role("heading", name="アカウント管理")).to_be_visible()
    page.get_by_role("link", name="組織管理").click()
    page.get_by_label("名前").fill("clinic")
    page.get_by_label("認定事業者").check()
    page.get_by_role("button", name="組織を作成する").click()
    row = page.get_by_role("row").filter(has_text="clinic")
    expect(row).to_contain_text("はい")
    shot(page, "01-admin-organizations")
    page.get_by_role("link", name="アカウント管理").click()
    page.get_by_label("名前").fill("dave")
    page.get_by_label("役割").select_option("researcher")
    page.get_by_label("組織").select_option("clinic")
    page.get_by_label("初期パスワード").fill("short")
    # The browser's own check (minlength) stops a short password; the
    # server's refusal is checked by the API tests.
    page.get_by_label("初期パスワード").fill(PASSWORD)
    page.get_by_role("button", name="アカウントを作成する").click()
    expect(page.get_by_role("row").filter(has_text="dave")).to_contain_text("clinic")
    shot(page, "02-admin-accounts")
    context.close()


def researcher_applies(browser):
    context, page = log_in(browser, "alice", PASSWORD)
    expect(page.get_by_role("heading", name="申請とプロジェクト")).to_be_visible()
    page.get_by_role("link", name="新しい申請を作成する").click()
    page.get_by_label("題名").fill(TITLE)
    page.get_by_label("利用目的").select_option("academic-research")
    page.get_by_label("一般向けの概要").fill("スタチンを飲んでいる高齢者は転びやすいのかを調べます。")
    page.get_by_label("メンバー").fill("dave")
    page.get_by_label("申請するデータ").fill("claims.persons.age\nclaims.drugs.code\n")
    page.get_by_label("データの種類").select_option("anonymized")
    page.get_by_label("開始日").fill("2026-01-01")
    page.get_by_label("終了日").fill("2027-12-31")
    shot(page, "03-application-form")
    page.get_by_role("button", name="下書きとして保存").click()
    expect(page.locator("#status")).to_contain_text("下書き")
    page.get_by_role("button", name="審査に提出する").click()
    expect(page.locator("#status")).to_contain_text("審査中")
    shot(page, "04-application-submitted")
    context.close()


def reviewer_approves(browser, name, shot_name, then):
    context, page = log_in(browser, name, PASSWORD)
    expect(page.get_by_role("heading", name="審査待ち一覧")).to_be_visible()
    shot(page, f"{shot_name}-queue")
    page.get_by_role("link", name=TITLE).click()
    page.get_by_label("承認", exact=True).check()
    page.get_by_label("コメント").fill(f"{name}: 目的に対して必要最小限のデータです。")
    # Conditions: a subset of the request.
    page.get_by_label("許可するデータ").fill("claims.persons.age\n")
    page.get_by_label("出力ルール").select_option("ndb")
    page.get_by_label("差分プライバシー予算").fill("0.5")
    page.get_by_label("有効期限").fill("2099-12-31")
    shot(page, shot_name)
    page.get_by_role("button", name="判定を記録する").click()
    expect(page.locator("#status")).to_contain_text(then)
    context.close()


def researcher_sees_the_project(browser):
    context, page = log_in(browser, "alice", PASSWORD)
    row = page.get_by_role("row").filter(has_text=TITLE).last
    expect(row).to_contain_text("有効")
    shot(page, "07-researcher-projects")
    link = row.get_by_role("link", name=TITLE)
    href = link.get_attribute("href")
    assert re.fullmatch(r"/projects/\d+", href), href
    link.click()
    expect(page.locator("#state")).to_contain_text("有効")
    expect(page.get_by_role("cell", name="age")).to_be_visible()
    expect(page.get_by_role("cell", name="code")).to_have_count(0)
    page.get_by_role("button", name="トークンを発行する").click()
    expect(page.get_by_text("このトークンは今回だけ表示されます")).to_be_visible()
    token = page.get_by_label("トークン", exact=True).input_value()
    assert len(token) >= 32, "no token shown"
    # Listed without its secret, and revoked from the same page.
    row = page.get_by_role("row").filter(has=page.get_by_role("button", name=re.compile("トークンを無効にする")))
    expect(row).to_have_count(1)
    row.get_by_role("button").click()
    expect(page.get_by_role("row").filter(has_text="取り消し済み")).to_have_count(1)
    expect(page.get_by_text(token)).to_have_count(0)
    shot(page, "08-token-revoked")
    # A page that fails: the error page.
    page.goto(BASE + "/projects/999999")
    expect(page.get_by_role("heading", name=re.compile("エラー"))).to_be_visible()
    shot(page, "08-error-page")
    context.close()
    return href


def the_register_lists_it(browser, state):
    context = browser.new_context(locale="ja-JP")
    page = context.new_page()
    page.goto(BASE + "/register")
    row = page.get_by_role("row").filter(has_text=TITLE)
    expect(row).to_contain_text("学術研究")
    expect(row).to_contain_text("claims")
    expect(row).to_contain_text(state)
    shot(page, f"register-{'active' if state == '有効' else 'ended'}")
    # English by ?lang=en, remembered by a cookie.
    page.goto(BASE + "/register?lang=en")
    expect(page.get_by_role("heading", name="Public register")).to_be_visible()
    shot(page, f"register-{'active' if state == '有効' else 'ended'}-en")
    page.goto(BASE + "/")
    expect(page.get_by_role("heading", name="Welcome to niji")).to_be_visible()
    shot(page, "home-en")
    page.goto(BASE + "/login?lang=ja")
    expect(page.get_by_role("heading", name="ログイン", exact=True)).to_be_visible()
    shot(page, "login")
    page.goto(BASE + "/")
    shot(page, "home")
    context.close()


def reviewer_revokes(browser, project):
    # The board's quorum (two) revokes: the first request leaves it in force.
    context, page = log_in(browser, "rev1", PASSWORD)
    page.goto(BASE + project)
    page.get_by_label("取り消しの理由").fill("同意の撤回があったため")
    page.get_by_role("button", name="許可を取り消す").click()
    expect(page.locator("#state")).not_to_contain_text("取り消し済み")
    context.close()
    context, page = log_in(browser, "rev2", PASSWORD)
    page.goto(BASE + project)
    page.get_by_label("取り消しの理由").fill("同意の撤回を確認したため")
    page.get_by_role("button", name="許可を取り消す").click()
    expect(page.locator("#state")).to_contain_text("取り消し済み")
    shot(page, "09-project-revoked")
    context.close()
    context, page = log_in(browser, "alice", PASSWORD)
    expect(page.get_by_role("row").filter(has_text=TITLE).last).to_contain_text("取り消し済み")
    context.close()


def main():
    os.makedirs(SHOTS, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        admin_adds_an_organization_and_account(browser)
        researcher_applies(browser)
        # The quorum is two: the first approval leaves it under review.
        reviewer_approves(browser, "rev1", "05-review-first", "審査中")
        reviewer_approves(browser, "rev2", "06-review-second", "承認")
        project = researcher_sees_the_project(browser)
        the_register_lists_it(browser, "有効")
        reviewer_revokes(browser, project)
        the_register_lists_it(browser, "終了")
        browser.close()
    print("browser journey passed")


if __name__ == "__main__":
    sys.exit(main())
