"""The course: lessons (and later exercises) as plain files, their validation, and progress."""

from sandbox.course.lessons import Lesson, LessonError, check_lesson_text, load_lessons, parse_lesson

__all__ = ["Lesson", "LessonError", "check_lesson_text", "load_lessons", "parse_lesson"]
