"""The reviewers' airlock and the citizen's page in real Chromium, on the
platform `niji demo` prepared.

Run by tests/it/browser.rs against a live `niji serve` on the demo's data
directory: the two demo reviewers release the result the demo's researcher
left in the airlock; the demo's citizen sees, in plain Japanese, that a row
about them was shown, downloads a receipt for it, and refuses further
provision. Every page is saved as a screenshot in NIJI_SHOTS, and the
receipt as NIJI_SHOTS/receipt.json for the test to verify.

Environment: NIJI_URL, NIJI_PASSWORD (every demo account's), NIJI_SHOTS.
"""

import os
import re
import sys

import axe
from playwright.sync_api import expect, sync_playwright

BASE = os.environ["NIJI_URL"]
PASSWORD = os.environ["NIJI_PASSWORD"]
SHOTS = os.environ["NIJI_SHOTS"]
CHROMIUM = os.environ.get("NIJI_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PROJECT = "Care use by age and sex, with chart review"
ROW_SHOWN = f"あなたに関する行が、プロジェクト「{PROJECT}」の認定研究者に表示されました。"


def shot(page, name, ours=True):
    """A screenshot of the page, and axe-core on it when it is niji's."""
    page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)
    if ours:
        axe.check(page, name)


def log_in(browser, name):
    """A fresh browser context (its own cookies), logged in by the form."""
    context = browser.new_context(locale="ja-JP", accept_downloads=True)
    page = context.new_page()
    page.goto(BASE + "/login")
    page.get_by_label("アカウント名").fill(name)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    expect(page.get_by_text(f"ログイン中: {name}")).to_be_visible()
    return context, page


def reviewer_releases(browser, reviewer, n, status):
    context, page = log_in(browser, reviewer)
    page.get_by_role("link", name="エアロック").click()
    expect(page.get_by_role("heading", name="エアロック:審査待ちの集計結果")).to_be_visible()
    shot(page, f"1{n}-airlock-queue-{reviewer}")
    page.get_by_role("table").get_by_role("link").first.click()
    expect(page.get_by_role("heading", name="クエリ")).to_be_visible()
    expect(page.locator("pre")).to_contain_text("max(age)")
    page.get_by_label("公開する").check()
    page.get_by_label("コメント").fill("性別ごとの年齢区分の最大値で、個人は特定されない")
    page.get_by_role("button", name="判定を記録する").click()
    expect(page.locator("#status")).to_have_text(status)
    shot(page, f"1{n}-airlock-decided-{reviewer}")
    context.close()


def citizen_checks_and_refuses(browser):
    context, page = log_in(browser, "citizen-demo")
    page.get_by_role("link", name="わたしのデータの利用記録").click()
    expect(page.get_by_role("heading", name="わたしのデータの利用記録")).to_be_visible()
    expect(page.get_by_role("listitem").filter(has_text="charts")).to_have_count(1)
    # Entries counted by month and project, with a chart of the months.
    expect(page.get_by_role("img", name="月ごとの記録の数")).to_be_visible()
    group = page.get_by_role("row").filter(has_text=PROJECT)
    expect(group.first).to_be_visible()
    shot(page, "20-citizen-accesses")
    # One group's entries, in Japan time, each with its receipt.
    page.get_by_label("記録の種類").select_option("analysis")
    page.get_by_role("button", name="表示する").click()
    page.get_by_role("row").filter(has_text=PROJECT).first.get_by_role("link", name="記録を見る").click()
    expect(page.get_by_role("heading", name="記録の一覧")).to_be_visible()
    row = page.get_by_role("row").filter(has_text=ROW_SHOWN)
    expect(row).to_have_count(1)
    expect(row.locator("time")).to_have_text(re.compile(r"^\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}$"))
    shot(page, "21-citizen-entries")
    with page.expect_download() as download:
        row.get_by_role("link", name="ダウンロード").click()
    download.value.save_as(os.path.join(SHOTS, "receipt.json"))
    page.get_by_role("link", name="月ごとの一覧に戻る").click()
    page.get_by_role("button", name="今後の提供を停止する").click()
    expect(page.locator("p.notice")).to_contain_text("今後の提供を停止しました")
    expect(page.get_by_text("停止の前に作成されたリリースはそのまま残り")).to_be_visible()
    expect(page.get_by_role("button", name="停止を取り消す")).to_be_visible()
    shot(page, "22-citizen-opted-out")
    # The change is itself an entry of their log, among the steps about them.
    page.get_by_label("記録の種類").select_option("person")
    page.get_by_role("button", name="表示する").click()
    page.get_by_role("link", name="記録を見る").first.click()
    expect(page.get_by_role("cell", name="あなたは今後の提供を停止しました。")).to_be_visible()
    page.goto(BASE + "/me/accesses?kind=analysis&lang=en")
    expect(page.get_by_text("A row about you was shown to a certified researcher")).to_be_visible()
    shot(page, "23-citizen-english")
    # On a phone's width the pages do not scroll sideways; a wide table
    # scrolls in its own box.
    page.set_viewport_size({"width": 375, "height": 812})
    for path, name in [("/me?lang=ja", "24-citizen-phone"), ("/me/accesses?kind=analysis", "25-citizen-entries-phone")]:
        page.goto(BASE + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        wide = page.evaluate(
            "[...document.querySelectorAll('body *')].filter(e => !e.closest('.table-scroll') && e.getBoundingClientRect().right > "
            "document.documentElement.clientWidth + 1).slice(0, 5).map(e => e.tagName + '.' + e.className)"
        )
        assert overflow <= 0, f"{path} is {overflow}px wider than a phone: {wide}"
        shot(page, name)
    context.close()


def the_public_reads_the_projects_activity(browser):
    context = browser.new_context(locale="ja-JP")
    page = context.new_page()
    page.goto(BASE + "/register")
    row = page.get_by_role("row").filter(has_text=PROJECT)
    row.get_by_role("link", name="活動記録を見る").click()
    expect(page.get_by_role("heading", name=f"プロジェクトの活動記録: {PROJECT}")).to_be_visible()
    # The demo's requests: SQL and DP, one held and then released by the
    # reviewers; the terms publish the queries' text, never a result.
    requests = page.get_by_role("row")
    expect(requests.filter(has_text="差分プライバシー集計").first).to_be_visible()
    expect(requests.filter(has_text="SQL 集計").first).to_be_visible()
    expect(requests.filter(has_text="公開").first).to_be_visible()
    expect(page.locator("code").filter(has_text="SELECT").first).to_be_visible()
    shot(page, "26-project-activity")
    context.close()


def main():
    os.makedirs(SHOTS, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        # Two releases: the first leaves it held, the second lets it out.
        reviewer_releases(browser, "reviewer1", 0, "審査待ち")
        reviewer_releases(browser, "reviewer2", 1, "公開済み")
        citizen_checks_and_refuses(browser)
        the_public_reads_the_projects_activity(browser)
        browser.close()
    print("demo browser journey passed")


if __name__ == "__main__":
    sys.exit(main())
